"""What both image stores share: the protocol, its errors and the key rules."""

from __future__ import annotations

import re
from typing import Protocol, runtime_checkable

MAX_KEY_CHARS = 200
CACHE_CONTROL = "public, max-age=31536000, immutable"  # a key never changes content
_KEY_CHARS = re.compile(r"[A-Za-z0-9_.-]*")


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
