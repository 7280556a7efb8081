"""Where generated images (and denoising checkpoints) live: a local directory served by the app, or an
S3-compatible bucket.

The package: `base` (the ImageStore protocol, errors, key rules), `local`, `s3` (only it imports
boto3). Keys are flat names (no "/"), checked by `validate_key` before any path or object name is
built from them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dreamcache.storage.base import (
    CACHE_CONTROL,
    MAX_KEY_CHARS,
    ImageNotFound,
    ImageStore,
    InvalidKey,
    StoreUnavailable,
    validate_key,
)
from dreamcache.storage.local import LocalStore
from dreamcache.storage.s3 import S3Store, s3_client

if TYPE_CHECKING:
    from dreamcache.settings import Settings

__all__ = [
    "CACHE_CONTROL",
    "MAX_KEY_CHARS",
    "ImageNotFound",
    "ImageStore",
    "InvalidKey",
    "LocalStore",
    "S3Store",
    "StoreUnavailable",
    "open_store",
    "s3_client",
    "validate_key",
]


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
