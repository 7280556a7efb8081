"""The in-process generation backend: a child process running the pipeline (`process`), and the bounded
queue in the web process that feeds it batches (`dispatcher.GpuWorker`, a `backend.GenerationBackend`)."""

from dreamcache.worker.dispatcher import GpuWorker
from dreamcache.worker.submission import PictureSink

__all__ = ["GpuWorker", "PictureSink"]
