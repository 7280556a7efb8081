"""Images as objects in an S3-compatible bucket (only this module imports boto3)."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from dreamcache.storage.base import CACHE_CONTROL, ImageNotFound, StoreUnavailable, validate_key

_NOT_FOUND_CODES = {"NoSuchKey", "404", "NotFound"}


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
