"""The vector index of past generations: embedded Qdrant Edge or a Qdrant server, behind one protocol.

The package: `base` (Entry, the Index protocol, shared queries), `edge` (embedded), `server`
(qdrant-client), and `memory` (an in-memory IVF index for `dreamcache replay`, no Qdrant).

Only this package imports Qdrant. Each point is one stored image: its id is the entry's UUID, its
single named vector (``prompt``) is the L2-normalised prompt embedding (cosine distance), and its
payload holds every other `Entry` field. Keyword payload indexes on ``compat_key`` and
``exact_key`` keep filtered search exact when few points match the filter, a keyword index on
``prompt_norm`` finds every image of one prompt, and numeric indexes on ``hits`` and
``created_at`` serve ordering. Autocomplete does not query here per keystroke: it keeps its own
in-memory index (`suggest/`), loaded with `scroll_all`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from qdrant_client import QdrantClient

from dreamcache.index.base import (
    SCROLL_BATCH,
    SHOWN_TO,
    SHOWN_TO_MAX,
    VECTOR_NAME,
    Entry,
    Index,
    IndexInUse,
    IndexUnavailable,
    Match,
    VectorLike,
)
from dreamcache.index.edge import EdgeIndex
from dreamcache.index.server import QdrantServerIndex

if TYPE_CHECKING:
    from dreamcache.settings import Settings

__all__ = [
    "SCROLL_BATCH",
    "SHOWN_TO",
    "SHOWN_TO_MAX",
    "VECTOR_NAME",
    "EdgeIndex",
    "Entry",
    "Index",
    "IndexInUse",
    "IndexUnavailable",
    "Match",
    "QdrantServerIndex",
    "VectorLike",
    "index_name",
    "open_index",
]


def index_name(settings: Settings, *, embedder_name: str, dimension: int) -> str:
    """Collection or directory name: one per embedder and dimension, so vector spaces never mix."""
    return f"{settings.qdrant_collection}-{embedder_name}-{dimension}"


def open_index(settings: Settings, *, embedder_name: str, dimension: int) -> Index:
    """The configured index: Qdrant server (qdrant_url), qdrant-client local mode, or Qdrant Edge."""
    name = index_name(settings, embedder_name=embedder_name, dimension=dimension)
    client: QdrantClient | None = None
    if settings.qdrant_url:
        client = QdrantClient(url=settings.qdrant_url, api_key=settings.qdrant_api_key)
    elif settings.qdrant_local_path is not None:  # brute force, single process: comparisons only
        client = QdrantClient(path=str(settings.qdrant_local_path))
    if client is not None:
        try:
            return QdrantServerIndex(client, name, dimension)
        except BaseException:
            client.close()
            raise
    return EdgeIndex(settings.index_dir / name, dimension)
