"""Which namespace a request works in: the one tenancy resolver of user routes, admin routes and the page.

The rule of a namespace's name lives in `keys` (`NAMESPACE_PATTERN`); this module only decides, for a
caller, which namespace a request may use, and answers 422/403 naming the header or field.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Header

from dreamcache.api.errors import ApiError, invalid
from dreamcache.keys import NAMESPACE_PATTERN, NAMESPACE_RULE, Caller, is_named_namespace

NAMESPACE_HEADER = "X-Dreamcache-Namespace"
NamespaceHeader = Annotated[
    str | None,
    Header(alias=NAMESPACE_HEADER, description="Private namespace: its entries are never served to another "
           "namespace, and it never sees the shared pool's. Empty = the shared pool; absent = the key's first "
           "namespace (the shared pool on a service without keys).",
           json_schema_extra={"pattern": NAMESPACE_PATTERN}),
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
    if not caller.key.has_namespace(value):
        raise ApiError(403, "forbidden_namespace", f"this API key may not use namespace {value!r}",
                       NAMESPACE_HEADER)
    return value


def namespaces_of(caller: Caller) -> list[str] | None:
    """The namespaces a caller's totals and management cover: its key's, or every one (None) when the service
    is open or the key is an operator's (/stats, the admin routes)."""
    return caller.scope


def admin_namespace(caller: Caller, namespace: str | None) -> str:
    """The namespace an admin route acts on: the named one if the key manages it (else 403), or the key's first."""
    if namespace is None:
        return caller.key.namespaces[0] if caller.key is not None and caller.key.namespaces else ""
    if not caller.may_read(namespace):
        raise ApiError(403, "forbidden_namespace", f"this key does not manage namespace {namespace!r}", "namespace")
    return namespace
