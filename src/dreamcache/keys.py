"""API keys: who may call the service, as which role, in which namespaces.

A key is shown once, when it is made (`dreamcache keys add`), and looks like
`dck_<id>_<secret>`: the id finds the record, the secret is 32 random bytes. Only the SHA-256 of
the whole key is stored (a keys file, JSON, written atomically with mode 0600), so the file gives
nobody a key. The secret is long and random, so a plain hash is enough; comparisons are constant-time.

No keys file at all means the service is open (local use, the demo): every caller may do
everything, and the namespace comes from the `X-Dreamcache-Namespace` header as before. Once a keys
file exists, every route but health, readiness and the static page needs a key, and the service
never becomes open again by accident: a file whose last key was revoked lets nobody in (401), and
one that cannot be read answers 503; both are logged loudly. Deleting the file is the one way back
to an open service (and is logged too).

An operator key (`dreamcache keys add --role admin --all-namespaces`) manages every namespace, those
that exist and those made later (takedowns across tenants). Only admin keys can be one: the CLI
refuses, and a keys file that gives it to a user key is refused as a whole (the service stays closed).

The file is re-read when it changes on disk, so `dreamcache keys add/revoke` take effect in a
running server within a second, without a restart.

Signed image URLs carry the id of the key they were handed to and are signed with it
(`sig=<key id>.<mac>`): they stop working when that key is revoked.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

log = logging.getLogger(__name__)

Role = Literal["user", "admin"]
ROLES: tuple[Role, ...] = ("user", "admin")
KEY_PREFIX = "dck"
_KEY = re.compile(r"^dck_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")
#: The one rule of a namespace's name ("" is the shared pool): used by keys, request headers and admin routes.
_NAMESPACE_NAME = "[A-Za-z0-9][A-Za-z0-9_.-]{0,63}"
NAMED_NAMESPACE_PATTERN = f"^{_NAMESPACE_NAME}$"
NAMESPACE_PATTERN = f"^(|{_NAMESPACE_NAME})$"  # a namespace, or "" (the shared pool)
NAMESPACE_RULE = "1-64 characters of letters, digits, '_', '.' or '-', starting with a letter or digit"
_NAMED_NAMESPACE = re.compile(NAMED_NAMESPACE_PATTERN)
_RECHECK_S = 1.0
# The key the current request authenticated with: image URLs made while answering it are bound to it.
_SIGNER: ContextVar[str] = ContextVar("dreamcache_url_signer", default="")


def sign_urls_for(key_id: str) -> None:
    """Image URLs made from now on in this request (its task) are bound to this key id."""
    _SIGNER.set(key_id)


@contextlib.contextmanager
def signing_urls_for(key_id: str) -> Iterator[None]:
    """Image URLs made inside the block are bound to this key id (answers built outside a request)."""
    token = _SIGNER.set(key_id)
    try:
        yield
    finally:
        _SIGNER.reset(token)


class KeysFileError(ValueError):
    """A key operation that cannot be done (the message says why)."""


@dataclass(frozen=True)
class KeyRecord:
    """One stored key: its public id, the hash of the key, its role and namespaces (the first is the default)."""

    id: str
    hash: str
    role: Role
    namespaces: tuple[str, ...]
    created_at: float
    label: str = ""
    all_namespaces: bool = False  # an operator key: every namespace, current and future (admin keys only)

    def has_namespace(self, namespace: str) -> bool:
        """Whether this key may use the namespace."""
        return self.all_namespaces or namespace in self.namespaces


@dataclass(frozen=True)
class Caller:
    """Who is calling: a key's record, or nobody (open mode, where everything is allowed)."""

    key: KeyRecord | None = None

    @property
    def open(self) -> bool:
        return self.key is None

    @property
    def is_admin(self) -> bool:
        return self.key is None or self.key.role == "admin"

    @property
    def owner(self) -> str:
        """Who owns jobs this caller starts: the key id ("" in open mode)."""
        return self.key.id if self.key is not None else ""

    def may_read(self, namespace: str) -> bool:
        """Whether this caller may see entries, prompts and pictures of the namespace."""
        return self.key is None or self.key.has_namespace(namespace)

    @property
    def scope(self) -> list[str] | None:
        """The namespaces this caller manages: its key's, or all (None) when open or an operator key."""
        if self.key is None or self.key.all_namespaces:
            return None
        return list(self.key.namespaces)


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def is_named_namespace(name: str) -> bool:
    """Whether `name` is a valid private namespace (the shared pool "" is not one)."""
    return bool(_NAMED_NAMESPACE.match(name))


def check_namespace(name: str) -> str:
    if name and not is_named_namespace(name):
        raise KeysFileError(f"namespace {name!r} must be empty (the shared pool) or {NAMESPACE_RULE}")
    return name


@dataclass
class _Loaded:
    records: dict[str, KeyRecord] = field(default_factory=dict)
    secret: str = ""  # signs local image URLs (made with the first key)
    mtime_ns: int = -1  # 0: no keys file
    checked: float = 0.0
    error: str = ""  # why the keys file cannot be read (the service then refuses everyone: 503)


class KeyStore:
    """The keys file: add, list, revoke, and authenticate (thread-safe; re-read when the file changes)."""

    def __init__(self, path: Path, *, clock: Callable[[], float] = time.monotonic) -> None:
        """`clock` times the once-a-second re-check of the file (tests pass a fake one)."""
        self.path = Path(path)
        self.clock = clock
        self._lock = threading.Lock()
        self._loaded = _Loaded()

    # -- reading --

    def _read(self) -> dict[str, KeyRecord]:
        return self._read_all()[0]

    def _read_all(self) -> tuple[dict[str, KeyRecord], str]:
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}, ""
        except (OSError, ValueError) as exc:
            raise KeysFileError(f"cannot read the keys file {self.path}: {exc}") from None
        records = {}
        for item in raw.get("keys", []):
            every = item.get("all_namespaces", False)
            if every is not False and (every is not True or item["role"] != "admin"):
                # Fail closed: a file that hands every namespace to anything but an admin key is not used at all.
                raise KeysFileError(f"the keys file {self.path} gives every namespace to key {item['id']!r} "
                                    f"(role {item['role']!r}, all_namespaces {every!r}): only admin keys may have it")
            record = KeyRecord(
                id=str(item["id"]), hash=str(item["hash"]), role=item["role"],
                namespaces=tuple(str(n) for n in item["namespaces"]), created_at=float(item["created_at"]),
                label=str(item.get("label", "")), all_namespaces=every,
            )
            records[record.id] = record
        return records, str(raw.get("secret", ""))

    def _current(self) -> _Loaded:
        """The keys file as last read, re-read when it changed (checked at most once a second); never raises."""
        with self._lock:
            now = self.clock()
            if now - self._loaded.checked < _RECHECK_S and self._loaded.mtime_ns != -1:
                return self._loaded
            try:
                mtime = self.path.stat().st_mtime_ns
            except FileNotFoundError:
                mtime = 0
            if mtime != self._loaded.mtime_ns:
                before = self._loaded
                try:
                    records, secret = self._read_all() if mtime else ({}, "")
                    self._loaded = _Loaded(records, secret, mtime, now)
                except KeysFileError as exc:
                    self._loaded = _Loaded({}, "", mtime, now, str(exc))
                self._announce_change(before, self._loaded)
            else:
                self._loaded.checked = now
            return self._loaded

    def _announce_change(self, before: _Loaded, now: _Loaded) -> None:
        """Say loudly when the service stops letting anybody in, or becomes open."""
        if now.error and now.error != before.error:
            log.error("API keys: %s. Every route but /healthz, /readyz and the page answers 503 until it is fixed.",
                      now.error)
        elif now.mtime_ns and not now.records and (before.records or before.error or before.mtime_ns == -1):
            log.error("API keys: the keys file %s holds no keys: every route but /healthz, /readyz and the page "
                      "answers 401 to everybody. Add a key (`dreamcache keys add`), or delete the file to run "
                      "the service open.", self.path)
        elif not now.mtime_ns and before.mtime_ns > 0:
            log.warning("API keys: the keys file %s was deleted: the service is OPEN to anybody who reaches it.",
                        self.path)

    def records(self) -> dict[str, KeyRecord]:
        """Every key, re-read when the file changed (checked at most once a second); KeysFileError when the
        file cannot be read."""
        loaded = self._current()
        if loaded.error:
            raise KeysFileError(loaded.error)
        return loaded.records

    # -- signed image URLs (a browser's <img> cannot send a key) --

    def _mac(self, secret: str, name: str, expires: int, key_id: str) -> str:
        message = f"{name}\x1f{expires}\x1f{key_id}".encode()
        return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()[:32]

    def sign(self, name: str, expires: int) -> str:
        """The signature of an image name valid until `expires` (unix seconds), bound to the key the current
        request authenticated with (`<key id>.<mac>`); "" without keys or outside an authenticated request."""
        loaded, key_id = self._current(), _SIGNER.get()
        if not loaded.secret or key_id not in loaded.records:
            return ""
        return f"{key_id}.{self._mac(loaded.secret, name, expires, key_id)}"

    def check_signature(self, name: str, expires: int, signature: str) -> bool:
        """Whether the signature is this service's for the name, has not expired, and its key still exists."""
        loaded = self._current()
        key_id, _, mac = signature.partition(".")
        if not loaded.secret or key_id not in loaded.records or expires < time.time():
            return False
        return hmac.compare_digest(self._mac(loaded.secret, name, expires, key_id), mac)

    @property
    def enabled(self) -> bool:
        """Whether callers need a key: a keys file exists (with keys, with none left, or unreadable)."""
        return self._current().mtime_ns != 0

    def authenticate(self, presented: str) -> KeyRecord | None:
        """The record of a presented key, or None when it is not a valid, current key; KeysFileError when the
        keys file cannot be read."""
        records = self.records()
        match = _KEY.match(presented)
        if match is None:
            return None
        record = records.get(match.group(1))
        if record is None or not hmac.compare_digest(record.hash, _hash(presented)):
            return None
        return record

    # -- writing (the CLI) --

    def add(
        self, namespaces: list[str], role: Role = "user", label: str = "", *, all_namespaces: bool = False
    ) -> tuple[str, KeyRecord]:
        """Make a key; returns (the key, shown once, its record). `all_namespaces`: an operator key (admins only)."""
        if role not in ROLES:
            raise KeysFileError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
        if all_namespaces and role != "admin":
            raise KeysFileError("only an admin key may have every namespace (--all-namespaces needs --role admin)")
        names = tuple(dict.fromkeys(check_namespace(n) for n in namespaces)) or ("",)
        key_id = secrets.token_hex(6)
        key = f"{KEY_PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"
        record = KeyRecord(key_id, _hash(key), role, names, time.time(), label, all_namespaces)
        with self._lock:
            records, secret = self._read_all()
            records[key_id] = record
            self._write(records, secret or secrets.token_hex(32))
        return key, record

    def revoke(self, key_id: str) -> KeyRecord:
        """Remove a key by id; KeysFileError when there is none."""
        with self._lock:
            records, secret = self._read_all()
            record = records.pop(key_id, None)
            if record is None:
                raise KeysFileError(f"no key with id {key_id!r}")
            self._write(records, secret)
        return record

    def _write(self, records: dict[str, KeyRecord], secret: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        body = json.dumps({"secret": secret, "keys": [asdict(r) for r in records.values()]}, indent=2)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".keys-", suffix=".tmp")
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(body)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self._loaded = _Loaded()  # the next read sees the new file at once
