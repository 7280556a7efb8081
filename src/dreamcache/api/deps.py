"""What route handlers receive: the services built in the app's lifespan, and who is calling."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Header, Request

from dreamcache.api.errors import ApiError
from dreamcache.api.views import Views
from dreamcache.backend import GenerationBackend
from dreamcache.cache import CacheService
from dreamcache.cache.waiters import Waiters
from dreamcache.cluster.connection import RedisLink
from dreamcache.index import Index
from dreamcache.jobs import JobTable
from dreamcache.keys import Caller, KeysFileError, KeyStore, sign_urls_for
from dreamcache.management import Curator
from dreamcache.metrics import Metrics
from dreamcache.settings import Settings
from dreamcache.storage import ImageStore
from dreamcache.webhooks import WebhookSender


@dataclass
class Services:
    """What handlers call: the services (cache, waiters, curator, webhooks), the views that shape answers,
    and the backends a few probes read (readiness, metrics, image bytes, Redis)."""

    settings: Settings
    cache: CacheService
    waiters: Waiters
    views: Views
    index: Index
    store: ImageStore
    backend: GenerationBackend
    jobs: JobTable
    metrics: Metrics
    tokenizer: Any  # CLIPTokenizer of the configured model, for the prompt token limit
    keys: KeyStore
    curator: Curator
    webhooks: WebhookSender
    link: RedisLink | None = None  # the Redis connection (DREAMCACHE_REDIS_URL); None: everything in-process


# Every dependency is `async def`: FastAPI runs a plain `def` dependency in its thread pool, two thread hops per
# request on the hit path for a few attribute reads.


async def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


_BEARER = "bearer "
_BASIC = "basic "


def _presented_key(authorization: str) -> str | None:
    """The API key an Authorization header carries: `Bearer <key>`, or HTTP Basic whose password is the key
    (AUTOMATIC1111's `--api-auth`, what its clients send; the user name is not checked)."""
    scheme = authorization[:7].lower()
    if scheme.startswith(_BEARER):
        return authorization[len(_BEARER):].strip()
    if scheme.startswith(_BASIC):
        try:
            decoded = base64.b64decode(authorization[len(_BASIC):].strip(), validate=True).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            return None
        return decoded.partition(":")[2] or None
    return None


async def get_caller(
    services: ServicesDep,
    authorization: Annotated[str | None, Header(description="`Bearer <key>` (when the service has API keys)")] = None,
) -> Caller:
    """The calling key; 401 without a valid one once any key exists (no keys: open, everyone may call)."""
    return authenticate(services, authorization)


def authenticate(services: Services, authorization: str | None) -> Caller:
    """The caller an Authorization header names (see `get_caller`); 503 while the keys file cannot be read."""
    if not services.keys.enabled:
        return Caller()
    try:
        services.keys.records()
    except KeysFileError:  # logged by the key store when it changed: closed to everybody until it is fixed
        raise ApiError(503, "keys_unavailable", "the service's API keys file cannot be read; the operator must "
                       "fix it (nobody is let in meanwhile)", headers={"Retry-After": "30"}) from None
    challenge = {"WWW-Authenticate": 'Bearer realm="dreamcache"'}
    presented = _presented_key(authorization) if authorization else None
    if presented is None:
        raise ApiError(401, "unauthorized", "this service needs an API key: send Authorization: Bearer <key> (or "
                       "HTTP Basic with the key as password)", "Authorization", headers=challenge)
    record = services.keys.authenticate(presented)
    if record is None:
        raise ApiError(401, "unauthorized", "the API key is not valid (unknown, revoked or mistyped)",
                       "Authorization", headers=challenge)
    sign_urls_for(record.id)  # image URLs in this answer stop working when this key is revoked
    return Caller(record)


CallerDep = Annotated[Caller, Depends(get_caller)]


async def get_admin(caller: CallerDep) -> Caller:
    """The calling key if it is an admin key (or the service is open); else 403."""
    return require_admin(caller)


def require_admin(caller: Caller) -> Caller:
    """`caller` if it is an admin key (or the service is open); else 403."""
    if not caller.is_admin:
        raise ApiError(403, "forbidden", "this route needs an admin key", "Authorization")
    return caller


AdminDep = Annotated[Caller, Depends(get_admin)]
