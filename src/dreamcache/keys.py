"""API keys: who may call the service, as which role, in which namespaces.

A key is shown once, when it is made (`dreamcache keys add`), and looks like
`dck_<id>_<secret>`: the id finds the record, the secret is 32 random bytes. Only the SHA-256 of
the whole key is stored (a keys file, JSON, written atomically with mode 0600), so the file gives
nobody a key. The secret is long and random, so a plain hash is enough; comparisons are constant-time.

No keys at all means the service is open (local use, the demo): every caller may do everything,
and the namespace comes from the `X-Dreamcache-Namespace` header as before. Once a key exists,
every route but health, readiness and the static page needs one.

An operator key (`dreamcache keys add --role admin --all-namespaces`) manages every namespace, those
that exist and those made later (takedowns across tenants). Only admin keys can be one: the CLI
refuses, and a keys file that gives it to a user key is refused as a whole (the service stays closed).

The file is re-read when it changes on disk, so `dreamcache keys add/revoke` take effect in a
running server within a second, without a restart.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

Role = Literal["user", "admin"]
ROLES: tuple[Role, ...] = ("user", "admin")
KEY_PREFIX = "dck"
_KEY = re.compile(r"^dck_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")
NAMESPACE = re.compile(r"^(?:|[A-Za-z0-9][A-Za-z0-9_.-]{0,63})$")  # "" is the shared pool
_RECHECK_S = 1.0


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


def check_namespace(name: str) -> str:
    if not NAMESPACE.match(name):
        raise KeysFileError(f"namespace {name!r} must be empty (the shared pool) or 1-64 letters, digits, "
                            "'_', '.', '-' starting with a letter or digit")
    return name


@dataclass
class _Loaded:
    records: dict[str, KeyRecord] = field(default_factory=dict)
    secret: str = ""  # signs local image URLs (made with the first key)
    mtime_ns: int = -1
    checked: float = 0.0


class KeyStore:
    """The keys file: add, list, revoke, and authenticate (thread-safe; re-read when the file changes)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
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

    def records(self) -> dict[str, KeyRecord]:
        """Every key, re-read when the file changed (checked at most once a second)."""
        with self._lock:
            now = time.monotonic()
            if now - self._loaded.checked < _RECHECK_S and self._loaded.mtime_ns != -1:
                return self._loaded.records
            try:
                mtime = self.path.stat().st_mtime_ns
            except FileNotFoundError:
                mtime = 0
            if mtime != self._loaded.mtime_ns:
                records, secret = self._read_all() if mtime else ({}, "")
                self._loaded = _Loaded(records, secret, mtime, now)
            else:
                self._loaded.checked = now
            return self._loaded.records

    # -- signed image URLs (a browser's <img> cannot send a key) --

    def sign(self, name: str, expires: int) -> str:
        """The signature of an image name valid until `expires` (unix seconds); "" when there are no keys."""
        self.records()
        secret = self._loaded.secret
        if not secret:
            return ""
        return hmac.new(secret.encode(), f"{name}\x1f{expires}".encode(), hashlib.sha256).hexdigest()[:32]

    def check_signature(self, name: str, expires: int, signature: str) -> bool:
        """Whether the signature is this service's for the name and has not expired."""
        expected = self.sign(name, expires)
        return bool(expected) and expires >= time.time() and hmac.compare_digest(expected, signature)

    @property
    def enabled(self) -> bool:
        """Whether any key exists (else the service is open)."""
        return bool(self.records())

    def authenticate(self, presented: str) -> KeyRecord | None:
        """The record of a presented key, or None when it is not a valid, current key."""
        match = _KEY.match(presented)
        if match is None:
            return None
        record = self.records().get(match.group(1))
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
