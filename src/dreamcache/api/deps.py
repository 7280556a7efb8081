"""What route handlers receive: the services built in the app's lifespan."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request

from dreamcache.cache import CacheService
from dreamcache.index import Index
from dreamcache.jobs import JobTable
from dreamcache.metrics import Metrics
from dreamcache.settings import Settings
from dreamcache.storage import ImageStore
from dreamcache.worker import GpuWorker


@dataclass
class Services:
    settings: Settings
    cache: CacheService
    index: Index
    store: ImageStore
    worker: GpuWorker
    jobs: JobTable
    metrics: Metrics
    tokenizer: Any  # CLIPTokenizer of the configured model, for the prompt token limit


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]
