"""Which namespace a request works in: the one tenancy resolver of user routes, admin routes and the page.

The rule of a namespace's name lives in `keys` (`NAMESPACE_PATTERN`); this module only decides, for a
caller, which namespace a request may use, and answers 422/403 naming the header or field.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Header

from dreamcache.api.errors import ApiError, invalid
from dreamcache.keys import NAMED_NAMESPACE_PATTERN, NAMESPACE_RULE, Caller, is_named_namespace

NAMESPACE_HEADER = "X-Dreamcache-Namespace"
NamespaceHeader = Annotated[
    str | None,
    Header(alias=NAMESPACE_HEADER, description="Private namespace: its entries are never served to another "
           "namespace, and it never sees the shared pool's. Absent = the shared pool.",
           json_schema_extra={"pattern": NAMED_NAMESPACE_PATTERN}),
]


def request_namespace(value: str | None, caller: Caller) -> str:
    """The request's namespace ("" = the shared pool): a 422 naming the header for a malformed name; with
    keys, the key's first namespace by default and a 403 for one the key does not have."""
    if value and not is_named_namespace(value):
        raise invalid(NAMESPACE_HEADER, f"must be {NAMESPACE_RULE}")
    if caller.key is None:
        return value or ""
    if value is None:
        return caller.key.namespaces[0]
    if value not in caller.key.namespaces:
        raise ApiError(403, "forbidden_namespace", f"this API key may not use namespace {value!r}",
                       NAMESPACE_HEADER)
    return value


def admin_scope(caller: Caller) -> list[str] | None:
    """The namespaces an admin manages: its key's, or all (None) when the service is open."""
    return list(caller.key.namespaces) if caller.key is not None else None


def admin_namespace(caller: Caller, namespace: str | None) -> str:
    """The namespace an admin route acts on: the named one if the key manages it (else 403), or the key's first."""
    scope = admin_scope(caller)
    if namespace is None:
        return scope[0] if scope else ""
    if scope is not None and namespace not in scope:
        raise ApiError(403, "forbidden_namespace", f"this key does not manage namespace {namespace!r}", "namespace")
    return namespace
