"""Where generated images live: a local directory served by the app, or an S3-compatible bucket.

Only this module imports boto3. Keys are flat names (no "/"), checked by `validate_key` before any
path or object name is built from them.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

if TYPE_CHECKING:
    from dreamcache.settings import Settings

MAX_KEY_CHARS = 200
CACHE_CONTROL = "public, max-age=31536000, immutable"  # a key never changes content
_KEY_CHARS = re.compile(r"[A-Za-z0-9_.-]*")
_NOT_FOUND_CODES = {"NoSuchKey", "404", "NotFound"}


class ImageNotFound(KeyError):
    """No image is stored under the key."""


class InvalidKey(ValueError):
    """The key breaks a naming rule (the message says which)."""


class StoreUnavailable(RuntimeError):
    """The store cannot be reached or written (readiness fails)."""


@runtime_checkable
class ImageStore(Protocol):
    """What the app needs from an image store; implemented by LocalStore and S3Store."""

    name: str

    def put(self, key: str, data: bytes, content_type: str = "image/png") -> None:
        """Store the bytes under the key, replacing any previous ones."""
        ...

    def get(self, key: str) -> bytes:
        """The bytes under the key; ImageNotFound if there are none."""
        ...

    def url(self, key: str) -> str:
        """The URL a client fetches the image from."""
        ...

    def exists(self, key: str) -> bool:
        """Whether an image is stored under the key."""
        ...

    def delete(self, key: str) -> None:
        """Remove the image; a missing image is not an error."""
        ...

    def check(self) -> None:
        """Raise StoreUnavailable unless the store answers."""
        ...


def validate_key(key: str) -> str:
    """Return the key if it is a safe flat name, else raise InvalidKey naming the broken rule."""
    if not isinstance(key, str):
        raise InvalidKey(f"image key must be a string, got {type(key).__name__}")
    if not key:
        raise InvalidKey("image key must not be empty")
    if len(key) > MAX_KEY_CHARS:
        raise InvalidKey(f"image key must be at most {MAX_KEY_CHARS} characters, got {len(key)}")
    if not (key[0].isascii() and key[0].isalnum()):
        raise InvalidKey(f"image key must start with a letter or digit: {key!r}")
    if not _KEY_CHARS.fullmatch(key):
        bad = next(c for c in key if not _KEY_CHARS.fullmatch(c))
        raise InvalidKey(
            f"image key may contain only letters, digits, '_', '.' and '-', not {bad!r}: {key!r}"
        )
    if ".." in key:
        raise InvalidKey(f"image key must not contain '..': {key!r}")
    return key


class LocalStore:
    """Images as files in one directory, served by the app under url_prefix."""

    name = "local"

    def __init__(self, root: Path, url_prefix: str = "/images/", public_base_url: str | None = None) -> None:
        """Use (and create) root; URLs are public_base_url + url_prefix + key."""
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._resolved_root = self.root.resolve()
        self.url_prefix = url_prefix
        self.public_base_url = public_base_url.rstrip("/") if public_base_url else ""

    def _path(self, key: str) -> Path:
        """The file for a valid key, proven to lie directly inside root (symlinks included)."""
        path = self._resolved_root / validate_key(key)
        if path.resolve().parent != self._resolved_root:
            raise InvalidKey(f"image key {key!r} resolves outside the image directory")
        return path

    def put(self, key: str, data: bytes, content_type: str = "image/png") -> None:
        """Write atomically and durably: temp file, fsync, rename over the key."""
        path = self._path(key)
        # Temp names start with "." so they are never valid keys, never served, never overwritten.
        fd, tmp = tempfile.mkstemp(dir=self._resolved_root, prefix=".put-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        dir_fd = os.open(self._resolved_root, os.O_RDONLY)
        try:
            os.fsync(dir_fd)  # the rename itself survives a power loss
        finally:
            os.close(dir_fd)

    def get(self, key: str) -> bytes:
        """The file's bytes; ImageNotFound if absent."""
        path = self._path(key)
        try:
            return path.read_bytes()
        except (FileNotFoundError, IsADirectoryError):
            raise ImageNotFound(key) from None

    def url(self, key: str) -> str:
        """public_base_url + url_prefix + key (relative when no public base is set)."""
        return f"{self.public_base_url}{self.url_prefix}{validate_key(key)}"

    def exists(self, key: str) -> bool:
        """Whether the file exists."""
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        """Remove the file; a missing file is not an error."""
        self._path(key).unlink(missing_ok=True)

    def check(self) -> None:
        """Raise StoreUnavailable unless root is a writable directory."""
        if not self._resolved_root.is_dir():
            raise StoreUnavailable(f"image directory {self.root} does not exist")
        if not os.access(self._resolved_root, os.W_OK | os.X_OK):
            raise StoreUnavailable(f"image directory {self.root} is not writable")


class S3Store:
    """Images as objects in an S3-compatible bucket; clients fetch them by presigned or public URL."""

    name = "s3"

    def __init__(
        self,
        client: Any,
        bucket: str,
        prefix: str = "images/",
        presign_expiry_s: int = 3600,
        public_base_url: str | None = None,
    ) -> None:
        """Use a boto3 S3 client; objects are stored as prefix + key."""
        self.client = client
        self.bucket = bucket
        self.prefix = prefix
        self.presign_expiry_s = presign_expiry_s
        self.public_base_url = public_base_url

    def _object_key(self, key: str) -> str:
        return self.prefix + validate_key(key)

    def put(self, key: str, data: bytes, content_type: str = "image/png") -> None:
        """Upload the object with its content type and an immutable cache lifetime."""
        self.client.put_object(
            Bucket=self.bucket,
            Key=self._object_key(key),
            Body=data,
            ContentType=content_type,
            CacheControl=CACHE_CONTROL,
        )

    def get(self, key: str) -> bytes:
        """The object's bytes; ImageNotFound if absent."""
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self._object_key(key))
        except ClientError as exc:
            if _is_not_found(exc):
                raise ImageNotFound(key) from None
            raise
        body = response["Body"]
        try:
            return bytes(body.read())
        finally:
            body.close()

    def url(self, key: str) -> str:
        """public_base_url + "/" + prefix + key if set, else a presigned GET URL."""
        object_key = self._object_key(key)
        if self.public_base_url:
            return f"{self.public_base_url.rstrip('/')}/{object_key}"
        return str(
            self.client.generate_presigned_url(
                "get_object",
                Params={"Bucket": self.bucket, "Key": object_key},
                ExpiresIn=self.presign_expiry_s,
            )
        )

    def exists(self, key: str) -> bool:
        """Whether the object exists (HEAD)."""
        try:
            self.client.head_object(Bucket=self.bucket, Key=self._object_key(key))
        except ClientError as exc:
            if _is_not_found(exc):
                return False
            raise
        return True

    def delete(self, key: str) -> None:
        """Remove the object; a missing object is not an error (S3 semantics)."""
        self.client.delete_object(Bucket=self.bucket, Key=self._object_key(key))

    def check(self) -> None:
        """Raise StoreUnavailable unless the bucket answers a HEAD request."""
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except (ClientError, BotoCoreError) as exc:
            raise StoreUnavailable(f"S3 bucket {self.bucket!r} is not reachable: {exc}") from exc


def _is_not_found(exc: ClientError) -> bool:
    error = exc.response.get("Error", {})
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return error.get("Code") in _NOT_FOUND_CODES or status == 404


def s3_client(
    *,
    endpoint_url: str | None = None,
    region: str = "us-east-1",
    access_key_id: str | None = None,
    secret_access_key: str | None = None,
) -> Any:
    """A boto3 S3 client: SigV4, path-style addressing with a custom endpoint, bounded timeouts."""
    config = Config(
        signature_version="s3v4",
        s3={"addressing_style": "path"} if endpoint_url else {},
        connect_timeout=5,
        read_timeout=30,
        retries={"max_attempts": 3, "mode": "standard"},
    )
    return boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        region_name=region,
        aws_access_key_id=access_key_id,
        aws_secret_access_key=secret_access_key,
        config=config,
    )


def open_store(settings: Settings) -> ImageStore:
    """The configured store: S3 when s3_bucket is set, else a local directory under data_dir."""
    if settings.s3_bucket:
        client = s3_client(
            endpoint_url=settings.s3_endpoint_url,
            region=settings.s3_region,
            access_key_id=settings.s3_access_key_id,
            secret_access_key=settings.s3_secret_access_key,
        )
        return S3Store(
            client,
            settings.s3_bucket,
            prefix=settings.s3_prefix,
            presign_expiry_s=settings.s3_presign_expiry_s,
            public_base_url=settings.s3_public_base_url,
        )
    return LocalStore(settings.images_dir, public_base_url=settings.public_base_url)
