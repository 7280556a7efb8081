"""What crosses Redis, as JSON: a generation task (the job's request, without the checkpoint itself: a worker
reads it from the store by its key), stored pictures, and the entries a finished job produced."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from dreamcache.backend import StoredPicture
from dreamcache.generation.spec import BatchShape, PromptItem
from dreamcache.index import Entry
from dreamcache.index.base import _entry, _payload
from dreamcache.jobs import CachedPicture, GenerationResult, GenerationTask, Reuse


def dump_task(task: GenerationTask) -> str:
    return json.dumps({
        "shape": asdict(task.shape),
        "items": [[item.prompt, item.negative_prompt, item.seed] for item in task.items],
        "vector": task.vector,
        "compat_key": task.compat_key,
        "exact_keys": task.exact_keys,
        "flight_key": task.flight_key,
        "namespace": task.namespace,
        "viewer": task.viewer,
        "text_key": task.text_key,
        "resume_key": task.resume_key,
        "reuse": asdict(task.reuse) if task.reuse is not None else None,
        "client": task.client,
        "cached": [[dump_entry_dict(p.entry), p.similarity, p.match] for p in task.cached],
    }, separators=(",", ":"))


def load_task(text: str) -> GenerationTask:
    data = json.loads(text)
    reuse = data.get("reuse")
    return GenerationTask(
        shape=BatchShape(**data["shape"]),
        items=[PromptItem(prompt, negative, int(seed)) for prompt, negative, seed in data["items"]],
        vector=[float(v) for v in data["vector"]],
        compat_key=data["compat_key"],
        exact_keys=list(data["exact_keys"]),
        flight_key=data["flight_key"],
        namespace=data["namespace"],
        viewer=data["viewer"],
        text_key=data["text_key"],
        resume_key=data["resume_key"],
        reuse=Reuse(**reuse) if reuse else None,
        client=data["client"],
        cached=[CachedPicture(load_entry_dict(entry), float(similarity), match)
                for entry, similarity, match in data["cached"]],
    )


def dump_entry_dict(entry: Entry) -> dict[str, Any]:
    return {"id": entry.id, **_payload(entry)}


def load_entry_dict(data: dict[str, Any]) -> Entry:
    values = dict(data)
    return _entry(values.pop("id"), values)


def dump_pictures(pictures: tuple[StoredPicture, ...] | list[StoredPicture]) -> str:
    return json.dumps([asdict(p) for p in pictures], separators=(",", ":"))


def load_pictures(text: str) -> tuple[StoredPicture, ...]:
    return tuple(StoredPicture(p["entry_id"], p["image_key"], tuple(p["checkpoints"]), int(p["stored_bytes"]))
                 for p in json.loads(text))


def dump_result(result: GenerationResult) -> str:
    return json.dumps({"entries": [dump_entry_dict(e) for e in result.entries], "seconds": result.seconds},
                      separators=(",", ":"))


def load_result(text: str | dict[str, Any]) -> GenerationResult:
    data = json.loads(text) if isinstance(text, str) else text
    return GenerationResult([load_entry_dict(e) for e in data["entries"]], float(data["seconds"]))
