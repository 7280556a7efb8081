"""API keys (`keys.py`) without an app: a KeyStore on a keys file in a temporary directory. Keys made, checked,
revoked; the file's fail-closed rules; who a caller is; signed image URLs. `make mutate` runs this file alone
against keys.py; test_keys covers the same rules through HTTP."""

from __future__ import annotations

import json
import logging
import os
import re
import stat
import time
from pathlib import Path

import pytest

from dreamcache.keys import (
    NAMESPACE_PATTERN,
    Caller,
    KeysFileError,
    KeyStore,
    check_namespace,
    is_named_namespace,
    sign_urls_for,
    signing_urls_for,
)


@pytest.fixture
def store(tmp_path: Path) -> KeyStore:
    return KeyStore(tmp_path / "conf" / "keys.json")


def test_a_key_is_shown_once_and_only_its_hash_is_stored(store: KeyStore) -> None:
    key, record = store.add(["team-a", "team-b", "team-a"], "user", "ci runner")
    assert re.fullmatch(r"dck_[0-9a-f]{12}_[A-Za-z0-9_-]{43}", key) and key.split("_")[1] == record.id
    assert record.namespaces == ("team-a", "team-b") and record.role == "user" and record.label == "ci runner"
    assert record.created_at <= time.time() and not record.all_namespaces
    text = store.path.read_text()
    assert key not in text and key.split("_")[2] not in text
    stored = json.loads(text)
    assert stored["keys"][0]["hash"] == record.hash and len(stored["keys"][0]["hash"]) == 64
    assert len(stored["secret"]) == 64
    assert stat.S_IMODE(os.stat(store.path).st_mode) == 0o600
    assert not [p for p in store.path.parent.iterdir() if p.name.startswith(".keys-")]  # no temp file left
    assert store.authenticate(key) == record
    assert store.records() == {record.id: record}


def test_only_the_exact_current_key_authenticates(store: KeyStore) -> None:
    key, record = store.add(["a"])
    other, _ = store.add(["b"], "admin")
    forged = f"dck_{record.id}_{other.split('_', 2)[2]}"  # a real secret under the wrong id
    for presented in (forged, key + "x", key[:-1], f"Bearer {key}", "", f"dck_{'0' * 12}_{key.split('_', 2)[2]}"):
        assert store.authenticate(presented) is None, presented
    assert store.revoke(record.id) == record
    assert store.authenticate(key) is None and store.authenticate(other) is not None
    with pytest.raises(KeysFileError, match="no key with id 'nope'"):
        store.revoke("nope")
    assert json.loads(store.path.read_text())["secret"]  # revoking keeps the signing secret


def test_a_new_key_has_the_shared_pool_when_no_namespace_is_given(store: KeyStore) -> None:
    _, record = store.add([])
    assert record.namespaces == ("",) and record.has_namespace("") and not record.has_namespace("a")
    secret = json.loads(store.path.read_text())["secret"]
    store.add(["b"])
    assert json.loads(store.path.read_text())["secret"] == secret  # made once, with the first key


def test_bad_roles_and_names_are_refused(store: KeyStore) -> None:
    with pytest.raises(KeysFileError, match="role must be one of user, admin, got 'root'"):
        store.add(["a"], "root")  # type: ignore[arg-type]
    with pytest.raises(KeysFileError, match="only an admin key may have every namespace"):
        store.add(["a"], "user", all_namespaces=True)
    with pytest.raises(KeysFileError, match="namespace '-a' must be empty"):
        store.add(["-a"])
    assert not store.path.exists()  # nothing written
    _, operator = store.add([], "admin", all_namespaces=True)
    assert operator.all_namespaces and operator.has_namespace("anything")


def test_namespace_names() -> None:
    for good in ("a", "A9", "a.b_c-d", "x" * 64, "9lives"):
        assert is_named_namespace(good) and check_namespace(good) == good and re.match(NAMESPACE_PATTERN, good)
    for bad in ("", "-a", ".a", "_a", "x" * 65, "a b", "a/b", "é"):
        assert not is_named_namespace(bad), bad
    assert check_namespace("") == ""
    with pytest.raises(KeysFileError):
        check_namespace("x" * 65)


def test_who_a_caller_is(store: KeyStore) -> None:
    nobody = Caller()
    assert nobody.open and nobody.is_admin and nobody.owner == "" and nobody.scope is None
    assert nobody.may_read("anything")
    _, user = store.add(["a", "b"])
    caller = Caller(user)
    assert not caller.open and not caller.is_admin and caller.owner == user.id
    assert caller.may_read("a") and caller.may_read("b") and not caller.may_read("c") and not caller.may_read("")
    assert caller.scope == ["a", "b"]
    _, admin = store.add(["a"], "admin")
    assert Caller(admin).is_admin and Caller(admin).scope == ["a"] and not Caller(admin).may_read("b")
    _, operator = store.add([], "admin", all_namespaces=True)
    assert Caller(operator).scope is None and Caller(operator).may_read("b")


def test_no_file_means_open_and_an_emptied_file_lets_nobody_in(store: KeyStore, caplog: pytest.LogCaptureFixture
                                                                ) -> None:
    assert not store.enabled and store.records() == {}
    key, record = store.add(["a"])
    assert store.enabled
    with caplog.at_level(logging.ERROR, logger="dreamcache.keys"):
        store.revoke(record.id)
        assert store.enabled and store.records() == {} and store.authenticate(key) is None
    assert "holds no keys" in caplog.text


def test_an_unreadable_or_overreaching_file_is_not_used_at_all(store: KeyStore, caplog: pytest.LogCaptureFixture
                                                               ) -> None:
    _, record = store.add(["a"])
    raw = json.loads(store.path.read_text())
    store.path.write_text("{not json")
    fresh = KeyStore(store.path)
    with caplog.at_level(logging.ERROR, logger="dreamcache.keys"):
        with pytest.raises(KeysFileError, match="cannot read the keys file"):
            fresh.records()
        assert fresh.enabled
        with pytest.raises(KeysFileError):
            fresh.authenticate("dck_000000000000_" + "a" * 43)
    assert "answers 503" in caplog.text
    for role, every in (("user", True), ("admin", "yes"), ("admin", 1)):
        raw["keys"][0].update(role=role, all_namespaces=every)
        store.path.write_text(json.dumps(raw))
        with pytest.raises(KeysFileError, match=f"every namespace to key '{record.id}'.*only admin keys may have it"):
            KeyStore(store.path).records()
    raw["keys"][0].update(role="admin", all_namespaces=True)
    store.path.write_text(json.dumps(raw))
    assert KeyStore(store.path).records()[record.id].all_namespaces is True


def test_the_file_is_reread_once_a_second_when_another_process_changes_it(tmp_path: Path) -> None:
    clock = Clock()
    store = KeyStore(tmp_path / "keys.json", clock=clock)
    key, _ = store.add(["a"])
    assert store.authenticate(key) is not None
    added, _ = KeyStore(store.path).add(["b"])  # `dreamcache keys add` in another process
    _changed(store.path, 1)
    clock.now = 1000.999
    assert store.authenticate(added) is None  # not checked again yet
    clock.now = 1001.0
    assert store.authenticate(added) is not None  # a second later: re-read
    clock.now += 5
    assert store.authenticate(added) is not None  # unchanged file: still the same keys


def test_signed_urls_are_bound_to_a_current_key_and_expire(store: KeyStore) -> None:
    later = int(time.time()) + 3600
    assert store.sign("x.png", later) == ""  # no keys: nothing to sign with
    _, record = store.add(["a"])
    assert store.sign("x.png", later) == ""  # outside an authenticated request
    with signing_urls_for(record.id):
        signature = store.sign("x.png", later)
    assert store.sign("x.png", later) == ""  # the block is over
    key_id, _, mac = signature.partition(".")
    assert key_id == record.id and re.fullmatch("[0-9a-f]{32}", mac)
    assert store.check_signature("x.png", later, signature)
    assert not store.check_signature("y.png", later, signature)
    assert not store.check_signature("x.png", later + 1, signature)
    assert not store.check_signature("x.png", later, f"{record.id}.{'0' * 32}")
    assert not store.check_signature("x.png", later, mac)  # no key id
    with signing_urls_for(record.id):
        past = int(time.time()) - 1
        assert not store.check_signature("x.png", past, store.sign("x.png", past))
    sign_urls_for("unknown")
    assert store.sign("x.png", later) == ""  # a key id the file does not have
    sign_urls_for("")
    store.revoke(record.id)
    assert not store.check_signature("x.png", later, signature)  # revoked: its URLs stop working


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _changed(path: Path, step: int) -> None:
    """Give the file a modification time of its own: two writes within one tick of the file system's clock
    (milliseconds on some) look the same to the re-check, which compares modification times."""
    stamp = path.stat().st_mtime_ns + step * 10**9
    os.utime(path, ns=(stamp, stamp))


def _reread(store: KeyStore, clock: Clock) -> None:
    """Let the once-a-second re-check come due, then read: the store sees the file as it is now."""
    clock.now += 1.0
    _ = store.enabled  # reads the file


def test_the_operator_is_told_when_the_service_closes_or_opens(tmp_path: Path, caplog: pytest.LogCaptureFixture
                                                               ) -> None:
    """Each change is logged once, at its level: unreadable (503), emptied (401) and deleted (open)."""
    clock = Clock()
    store = KeyStore(tmp_path / "keys.json", clock=clock)
    key, record = store.add(["a"])
    assert store.authenticate(key) is not None
    with caplog.at_level(logging.INFO, logger="dreamcache.keys"):
        store.path.write_text("{not json")
        _changed(store.path, 1)
        _reread(store, clock)
        _reread(store, clock)  # the same error again: not logged twice
        errors = [r for r in caplog.records if r.levelno == logging.ERROR]
        assert len(errors) == 1 and errors[0].getMessage().startswith("API keys: cannot read the keys file")
        assert errors[0].getMessage().endswith("Every route but /healthz, /readyz and the page answers 503 until it "
                                               "is fixed.")
        caplog.clear()
        store.path.write_text(json.dumps({"secret": "s", "keys": []}))
        _changed(store.path, 2)
        _reread(store, clock)
        [emptied] = caplog.records
        assert emptied.levelno == logging.ERROR and emptied.getMessage() == (
            f"API keys: the keys file {store.path} holds no keys: every route but /healthz, /readyz and the page "
            "answers 401 to everybody. Add a key (`dreamcache keys add`), or delete the file to run the service "
            "open.")
        caplog.clear()
        store.path.unlink()
        _reread(store, clock)
        [opened] = caplog.records
        assert opened.levelno == logging.WARNING and opened.getMessage() == (
            f"API keys: the keys file {store.path} was deleted: the service is OPEN to anybody who reaches it.")
        assert not store.enabled
        caplog.clear()
        _ = KeyStore(store.path).enabled  # no file from the start: open, nothing to say
        store.path.write_text(json.dumps({"secret": "s", "keys": []}))
        _ = KeyStore(store.path).enabled  # an empty file from the start: closed, said once
        assert [r.getMessage().split(":")[1].strip() for r in caplog.records] == [
            f"the keys file {store.path} holds no keys"]
