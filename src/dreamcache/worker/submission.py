"""A generation on its way through the dispatcher's queue (`Job`), reporting each change on its stream."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from dreamcache.backend import Canceled, Done, EventStream, Failed, GenerationRequest, Progress, Started, StoredPicture
from dreamcache.generation.spec import BatchShape, GeneratedImage, PromptItem

# Stores one job's generated pictures (image, then checkpoints) and says where: run in a thread. Given the job's
# id, so a job generated twice (its worker died after storing, and another ran it again) stores under the same keys.
PictureSink = Callable[[str, list[GeneratedImage]], list[StoredPicture]]


class State(Enum):
    QUEUED = "queued"
    RUNNING = "running"
    ENDED = "ended"  # done, failed or canceled: its stream has its terminal event
    CANCELED = "canceled"

    @property
    def terminal(self) -> bool:
        return self in (State.ENDED, State.CANCELED)


@dataclass(eq=False)
class Job:
    """A submitted generation on its way through the queue (compared by identity)."""

    request: GenerationRequest
    stream: EventStream
    status: State = State.QUEUED

    @property
    def id(self) -> str:
        return self.request.id

    @property
    def shape(self) -> BatchShape:
        return self.request.shape

    @property
    def items(self) -> list[PromptItem]:
        return self.request.items

    @property
    def client(self) -> str:
        return self.request.client

    def mark_running(self, total_steps: int) -> None:
        self.status = State.RUNNING
        self.stream.put(Started(total_steps))

    def progress(self, step: int, total: int) -> None:
        self.stream.put(Progress(step, total))

    def fail(self, reason: str, message: str) -> None:
        self.status = State.ENDED
        self.stream.put(Failed(reason, message))

    def cancel(self) -> None:
        self.status = State.CANCELED
        self.stream.put(Canceled())

    def succeed(self, pictures: list[StoredPicture], seconds: float) -> None:
        self.status = State.ENDED
        self.stream.put(Done(tuple(pictures), seconds))
