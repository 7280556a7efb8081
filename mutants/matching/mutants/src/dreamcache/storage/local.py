"""Images as files in one directory, served by the app."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from dreamcache.storage.base import ImageNotFound, InvalidKey, StoreUnavailable, validate_key


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
