"""`dreamcache replay FILE`: what the cache would save on a real prompt stream, without generating anything.

Each prompt goes, in order, through the service's own decision path: the configured embedder,
`decision.Decider` (the verifier in `matching`, the threshold, the reuse schedule and its limits
by kind of edit) over a scratch index. A hit saves every step of the request; a near-miss that may
resume from a neighbour's checkpoint at step K saves K of N; anything else is "generated": its entry
(with the checkpoints the settings would keep) is written to the scratch index, so later prompts
can hit or reuse it.

The stream is replayed twice, side by side in one pass: once with `user` as the client identity
(`X-Dreamcache-Client`: a person asking again gets pictures they have not seen, then a new sample,
as the service does) and once anonymously (everyone shares every picture).

Built for logs of any size: the file is read lazily in chunks (never whole in memory), each chunk
is embedded in batches by one process per core while the previous one is replayed, and the scratch
index is `index.memory` (an IVF vector table both modes share, entries in compact columns), so time
per prompt does not grow with the log. Its approximate search changes few decisions:
`bench/bench_replay.py` counts them against an exact scan, and a test checks that a replay decides
the same on it as on the service's Qdrant Edge index.

Input: plain text (one prompt a line) or JSON lines with `prompt` and optional `user`, `width`,
`height`, `seed`, `num_inference_steps`, `guidance_scale`; an `args` field with Discord-bot flags
(`-W`, `-H`, `-s`, `-C`, `-S`) is read too. `.gz` files are read as gzip.

The package, by responsibility: `stream` (reading the file into `StreamItem`s), `vectors` (the embedding
workers and the prompt -> vector LRU), `mode` (one mode's step through the decision path), `report`
(counts, shares and the table), `run` (`replay`: both modes in one pass, the progress bar).
"""

from dreamcache.replay.mode import ModeReplay, capped_settings
from dreamcache.replay.report import (
    EditReuse,
    ModeReport,
    Outcome,
    ReplayReport,
    cpu_seconds,
    format_table,
    peak_rss_mib,
)
from dreamcache.replay.run import replay
from dreamcache.replay.stream import ReplayInputError, StreamItem, StreamReader, parse_line, read_stream
from dreamcache.replay.vectors import CHUNK, EMBED_BATCH, VECTOR_CACHE, VectorSource, embedded_chunks

__all__ = [
    "CHUNK",
    "EMBED_BATCH",
    "VECTOR_CACHE",
    "EditReuse",
    "ModeReplay",
    "ModeReport",
    "Outcome",
    "ReplayInputError",
    "ReplayReport",
    "StreamItem",
    "StreamReader",
    "VectorSource",
    "capped_settings",
    "cpu_seconds",
    "embedded_chunks",
    "format_table",
    "parse_line",
    "peak_rss_mib",
    "read_stream",
    "replay",
]
