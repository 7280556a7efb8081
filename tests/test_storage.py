"""Contract tests for the image stores: one suite over LocalStore and S3Store.

S3Store runs against two real S3 servers over HTTP: moto (fast, in this process) and SeaweedFS (`weed mini`,
its own process, the S3 the multi-process tests share), so we know our store works with a real distributed
object store that, unlike moto, checks signatures and the expiry of presigned URLs.
"""

from __future__ import annotations

import os
import re
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from dreamcache.settings import Settings
from dreamcache.storage import (
    CACHE_CONTROL,
    ImageNotFound,
    ImageStore,
    InvalidKey,
    LocalStore,
    S3Store,
    StoreUnavailable,
    open_store,
    s3_client,
    validate_key,
)
from s3server import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY, allow_public_reads, fetch, moto_s3_server
from seaweed import seaweed_s3_server

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4  # every byte value, as an image would have
S3_SERVERS = ["moto", "seaweedfs"]


@dataclass(frozen=True)
class S3Server:
    """A running S3 server: which one, where, and the keys it accepts."""

    kind: str
    endpoint_url: str
    access_key_id: str
    secret_access_key: str
    region: str


@pytest.fixture(scope="module")
def moto_server() -> Iterator[S3Server]:
    """One moto S3 server for the module (moto accepts any keys)."""
    with moto_s3_server() as url:
        yield S3Server("moto", url, ACCESS_KEY_ID, SECRET_ACCESS_KEY, REGION)


@pytest.fixture(scope="module")
def seaweedfs_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """One SeaweedFS for the module (it accepts only its configured keys)."""
    with seaweed_s3_server(tmp_path_factory.mktemp("seaweedfs")) as seaweed:
        yield S3Server("seaweedfs", seaweed.endpoint_url, seaweed.access_key_id, seaweed.secret_access_key,
                       seaweed.region)


@pytest.fixture(params=S3_SERVERS)
def server(request: pytest.FixtureRequest) -> S3Server:
    """Each S3 server in turn."""
    return request.getfixturevalue(f"{request.param}_server")  # type: ignore[no-any-return]


@pytest.fixture
def endpoint(server: S3Server) -> str:
    return server.endpoint_url


def _client_for(server: S3Server) -> Any:
    """A boto3 client for the server, built the way open_store builds one."""
    return s3_client(endpoint_url=server.endpoint_url, region=server.region,
                     access_key_id=server.access_key_id, secret_access_key=server.secret_access_key)


def _new_bucket(client: Any) -> str:
    name = f"dreamcache-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=name)
    return name


@pytest.fixture
def client(server: S3Server) -> Any:
    return _client_for(server)


@pytest.fixture
def bucket(client: Any) -> str:
    """A fresh, empty bucket."""
    return _new_bucket(client)


@pytest.fixture(params=["local", *S3_SERVERS])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ImageStore:
    """Each store implementation (S3Store on each S3 server), empty."""
    if request.param == "local":
        return LocalStore(tmp_path / "images")
    client = _client_for(request.getfixturevalue(f"{request.param}_server"))
    return S3Store(client, _new_bucket(client))


def test_implements_protocol(store: ImageStore) -> None:
    assert isinstance(store, ImageStore)
    assert store.name in {"local", "s3"}


def test_put_get_roundtrip_and_overwrite(store: ImageStore) -> None:
    store.put("cat.png", PNG)
    assert store.get("cat.png") == PNG
    store.put("cat.png", b"second version")
    assert store.get("cat.png") == b"second version"
    store.put("empty.png", b"")
    assert store.get("empty.png") == b""


def test_exists_and_delete(store: ImageStore) -> None:
    assert not store.exists("dog.png")
    store.put("dog.png", PNG)
    assert store.exists("dog.png")
    store.delete("dog.png")
    assert not store.exists("dog.png")
    with pytest.raises(ImageNotFound):
        store.get("dog.png")
    store.delete("dog.png")  # deleting what is gone is not an error


def test_missing_key_raises_image_not_found(store: ImageStore) -> None:
    with pytest.raises(ImageNotFound) as caught:
        store.get("never-stored.png")
    assert isinstance(caught.value, KeyError)
    assert caught.value.args == ("never-stored.png",)


BAD_KEYS = {  # key -> the rule its error message must name
    "../etc/passwd": "must start with a letter or digit",
    "a/../../etc/passwd": "not '/'",
    "a/b": "not '/'",
    "..": "must start with a letter or digit",
    "a..b": "must not contain '..'",
    "": "must not be empty",
    ".hidden": "must start with a letter or digit",
    "-flag": "must start with a letter or digit",
    "x" * 300: "at most 200 characters",
    "x" * 201: "at most 200 characters",
    "%2e%2e": "must start with a letter or digit",
    "a%2e%2e": "not '%'",
    "a\\b": "not '\\\\'",
    "..\\windows": "must start with a letter or digit",
    "a\x00b": "not '\\x00'",
    "abc\n": "not '\\n'",
    "a b": "not ' '",
    "ü.png": "must start with a letter or digit",
    "aü.png": "not 'ü'",
}


@pytest.mark.parametrize("key", list(BAD_KEYS), ids=[ascii(k)[:24] for k in BAD_KEYS])
def test_validate_key_names_the_rule(key: str) -> None:
    with pytest.raises(InvalidKey, match=re.escape(BAD_KEYS[key])):
        validate_key(key)


def test_validate_key_accepts_good_keys_and_rejects_non_strings() -> None:
    for key in ("a", "7", "A1_b-c.d.png", f"{uuid.uuid4()}.png", "x" * 200, "a.b.c"):
        assert validate_key(key) == key
    with pytest.raises(InvalidKey, match="must be a string"):
        validate_key(b"bytes.png")  # type: ignore[arg-type]
    assert issubclass(InvalidKey, ValueError)


@pytest.mark.parametrize(
    "key", ["../etc/passwd", "a/b", "..", "", ".hidden", "x" * 300, "%2e%2e", "a\\b", "a\x00b"]
)
def test_every_operation_rejects_invalid_keys(store: ImageStore, key: str) -> None:
    operations: list[Callable[[], object]] = [
        lambda: store.put(key, PNG),
        lambda: store.get(key),
        lambda: store.exists(key),
        lambda: store.delete(key),
        lambda: store.url(key),
    ]
    for operation in operations:
        with pytest.raises(InvalidKey):
            operation()


def test_local_store_never_leaves_its_root(tmp_path: Path) -> None:
    root = tmp_path / "images"
    store = LocalStore(root)
    outside = tmp_path / "secret.txt"
    outside.write_bytes(b"do not touch")
    (root / "link.png").symlink_to(outside)
    for operation in (
        lambda: store.get("link.png"),
        lambda: store.put("link.png", b"overwritten"),
        lambda: store.delete("link.png"),
    ):
        with pytest.raises(InvalidKey, match="outside"):
            operation()
    assert outside.read_bytes() == b"do not touch"
    with pytest.raises(InvalidKey):
        store.put("../secret.txt", b"overwritten")
    assert outside.read_bytes() == b"do not touch"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["images", "secret.txt"]


def test_local_store_writes_atomically(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "images")
    store.put("a.png", b"old")
    with pytest.raises(TypeError):
        store.put("a.png", "not bytes")  # type: ignore[arg-type]  # fails mid-write
    assert store.get("a.png") == b"old"  # the old image is intact
    store.put("a.png", b"new")
    assert sorted(os.listdir(tmp_path / "images")) == ["a.png"]  # no temp files left behind
    assert store.get("a.png") == b"new"


def test_local_store_urls(tmp_path: Path) -> None:
    assert LocalStore(tmp_path).url("k.png") == "/images/k.png"
    assert LocalStore(tmp_path, public_base_url="https://cdn.example.com").url("k.png") == (
        "https://cdn.example.com/images/k.png"
    )
    assert LocalStore(tmp_path, public_base_url="https://cdn.example.com/").url("k.png") == (
        "https://cdn.example.com/images/k.png"
    )
    assert LocalStore(tmp_path, url_prefix="/static/img/").url("k.png") == "/static/img/k.png"


def test_local_store_check(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "images")
    store.check()
    (tmp_path / "images").rmdir()
    with pytest.raises(StoreUnavailable, match="does not exist"):
        store.check()


def test_s3_put_stores_under_prefix_with_content_type_and_cache_control(client: Any, bucket: str) -> None:
    store = S3Store(client, bucket, prefix="gen/")
    store.put("cat.webp", PNG, content_type="image/webp")
    head = client.head_object(Bucket=bucket, Key="gen/cat.webp")
    assert head["ContentType"] == "image/webp"
    assert head["CacheControl"] == CACHE_CONTROL == "public, max-age=31536000, immutable"
    assert head["ContentLength"] == len(PNG)
    listed = client.list_objects_v2(Bucket=bucket)["Contents"]
    assert [o["Key"] for o in listed] == ["gen/cat.webp"]


def test_s3_presigned_url_serves_the_bytes(client: Any, bucket: str, endpoint: str) -> None:
    store = S3Store(client, bucket, presign_expiry_s=321)
    store.put("fox.png", PNG)
    url = store.url("fox.png")
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == endpoint
    assert parts.path == f"/{bucket}/images/fox.png"  # path-style addressing with a custom endpoint
    query = parse_qs(parts.query)
    assert query["X-Amz-Expires"] == ["321"]
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert query["X-Amz-Signature"]
    status, body, headers = fetch(url)
    assert status == 200 and body == PNG
    assert headers["content-type"] == "image/png"
    assert headers["cache-control"] == CACHE_CONTROL
    unsigned = url.split("?")[0]
    assert fetch(unsigned)[0] == 403  # the bucket is private: the signature is what grants access


def test_s3_public_base_url_builds_plain_urls(client: Any, bucket: str, endpoint: str) -> None:
    cdn = S3Store(client, bucket, public_base_url="https://cdn.example.com/")
    assert cdn.url("fox.png") == "https://cdn.example.com/images/fox.png"
    # Pointing the public base at the bucket itself shows the URL addresses the stored object,
    # once the bucket allows anonymous reads (a deployment with public_base_url must arrange that).
    direct = S3Store(client, bucket, public_base_url=f"{endpoint}/{bucket}")
    direct.put("fox.png", PNG)
    url = direct.url("fox.png")
    assert url == f"{endpoint}/{bucket}/images/fox.png"
    assert fetch(url)[0] == 403
    allow_public_reads(client, bucket, "images/")
    status, body, headers = fetch(url)
    assert (status, body, headers["cache-control"]) == (200, PNG, CACHE_CONTROL)


def test_s3_check(client: Any, bucket: str) -> None:
    S3Store(client, bucket).check()
    with pytest.raises(StoreUnavailable, match="no-such-bucket"):
        S3Store(client, "no-such-bucket").check()


def test_s3_check_fails_when_endpoint_is_down() -> None:
    down = s3_client(
        endpoint_url="http://127.0.0.1:9",  # discard port: connection refused
        access_key_id=ACCESS_KEY_ID,
        secret_access_key=SECRET_ACCESS_KEY,
    )
    with pytest.raises(StoreUnavailable, match="not reachable"):
        S3Store(down, "images").check()


def test_open_store_local_by_default(tmp_path: Path) -> None:
    store = open_store(Settings(data_dir=tmp_path, public_base_url="https://dc.example.com"))
    assert isinstance(store, LocalStore)
    store.put("k.png", PNG)
    assert (tmp_path / "images" / "k.png").read_bytes() == PNG
    assert store.url("k.png") == "https://dc.example.com/images/k.png"


def test_open_store_s3_from_settings(
    server: S3Server, endpoint: str, bucket: str, client: Any, tmp_path: Path
) -> None:
    settings = Settings(
        data_dir=tmp_path,
        s3_bucket=bucket,
        s3_endpoint_url=endpoint,
        s3_region=server.region,
        s3_access_key_id=server.access_key_id,
        s3_secret_access_key=server.secret_access_key,
        s3_prefix="imgs/",
        s3_presign_expiry_s=600,
    )
    store = open_store(settings)
    assert isinstance(store, S3Store)
    store.check()
    store.put("k.png", PNG)
    assert client.get_object(Bucket=bucket, Key="imgs/k.png")["Body"].read() == PNG
    url = store.url("k.png")
    assert url.startswith(f"{endpoint}/{bucket}/imgs/k.png?") and "X-Amz-Expires=600" in url
    assert fetch(url)[1] == PNG
    assert not (tmp_path / "images").exists()
    public = open_store(settings.model_copy(update={"s3_public_base_url": "https://cdn.example.com"}))
    assert public.url("k.png") == "https://cdn.example.com/imgs/k.png"


def test_s3_presigned_url_signature_and_expiry_are_checked(seaweedfs_server: S3Server) -> None:
    """What moto cannot show: a real S3 refuses a presigned URL that was altered, signed with the wrong
    secret, or used after presign_expiry_s."""
    client = _client_for(seaweedfs_server)
    store = S3Store(client, _new_bucket(client), presign_expiry_s=1)
    store.put("fox.png", PNG)
    store.put("cat.png", b"another picture")
    url = store.url("fox.png")
    signed_at = time.time()
    assert fetch(url)[:2] == (200, PNG)
    signature = parse_qs(urlsplit(url).query)["X-Amz-Signature"][0]
    forged = "0" * len(signature) if signature != "0" * len(signature) else "1" * len(signature)
    assert fetch(url.replace(signature, forged))[0] == 403
    assert fetch(url.replace("/fox.png", "/cat.png"))[0] == 403  # a signature is for its own key only
    wrong_secret = S3Server("seaweedfs", seaweedfs_server.endpoint_url, seaweedfs_server.access_key_id,
                            "not-the-secret", seaweedfs_server.region)
    assert fetch(S3Store(_client_for(wrong_secret), store.bucket).url("fox.png"))[0] == 403
    time.sleep(max(0.0, signed_at + 2.1 - time.time()))  # X-Amz-Date has whole seconds; expiry is 1 s
    status, body, _ = fetch(url)
    assert status == 403 and b"expired" in body
