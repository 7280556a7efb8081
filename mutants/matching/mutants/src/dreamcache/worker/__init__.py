"""The single GPU worker: a child process running the pipeline (`process`), and the bounded queue in the
web process that feeds it batches (`dispatcher`)."""

from dreamcache.worker.dispatcher import ClientQueueFull, GpuWorker, QueueFull, ResultHandler, WorkerUnavailable

__all__ = ["ClientQueueFull", "GpuWorker", "QueueFull", "ResultHandler", "WorkerUnavailable"]
