"""`dreamcache keys` (the API keys file) and `dreamcache entries` (a running service's /admin routes)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import httpx

from dreamcache.settings import Settings


def keys_command(args: argparse.Namespace, settings: Settings) -> int:
    """`dreamcache keys add|list|revoke` on the keys file of these settings."""
    from datetime import UTC, datetime

    from dreamcache.keys import KeysFileError, KeyStore
    from dreamcache.times import rfc3339

    store = KeyStore(settings.keys_path)
    try:
        if args.keys_command == "add":
            if not args.namespace and not args.all_namespaces:
                raise KeysFileError("give the key's namespaces (--namespace NAME, repeatable; '' = the shared "
                                    "pool), or --all-namespaces for an operator's admin key")
            key, record = store.add(args.namespace or [], args.role, args.label, all_namespaces=args.all_namespaces)
            print(key)
            shown = ", ".join(repr(n) if n else "'' (shared pool)" for n in record.namespaces)
            if record.all_namespaces:
                shown = f"every namespace, current and future; default {shown}"
            print(f"key {record.id} ({record.role}, namespaces {shown}) added to {store.path}. This is the only "
                  "time the key is shown: store it now.", file=sys.stderr)
            return 0
        if args.keys_command == "revoke":
            record = store.revoke(args.id)
            print(f"key {record.id} revoked", file=sys.stderr)
            if not store.records():
                print(f"that was the last key: the service now lets nobody in (401) until a key is added; delete "
                      f"{store.path} to run it open", file=sys.stderr)
            return 0
        records = sorted(store.records().values(), key=lambda r: r.created_at)
        if args.json:
            print(json.dumps([{"id": r.id, "role": r.role, "namespaces": list(r.namespaces),
                               "all_namespaces": r.all_namespaces, "label": r.label,
                               "created_at": rfc3339(r.created_at)}
                              for r in records], indent=2))
            return 0
        if not records and store.path.exists():
            print(f"no keys in {store.path}: the service lets nobody in (401); add a key, or delete the file to "
                  "run it open", file=sys.stderr)
        elif not records:
            print(f"no keys file {store.path}: the service is open", file=sys.stderr)
        for r in records:
            created = datetime.fromtimestamp(r.created_at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            names = "* (all)" if r.all_namespaces else ",".join(r.namespaces) or "(shared)"
            print(f"{r.id}  {r.role:<5}  {names:<24}  {created}  {r.label}")
        return 0
    except KeysFileError as exc:
        print(f"dreamcache keys: {exc}", file=sys.stderr)
        return 2


def entries_command(args: argparse.Namespace, settings: Settings, *, transport: Any = None) -> int:
    """`dreamcache entries ...`: the running service's /admin routes, printed as JSON."""
    url = args.url or f"http://{settings.host}:{settings.port}"
    headers = {"Authorization": f"Bearer {args.key}"} if args.key else {}
    command = args.entries_command
    calls: dict[str, tuple[str, str, dict[str, Any] | None, dict[str, Any] | None]] = {
        "list": ("GET", "/admin/entries", {k: v for k, v in (("q", getattr(args, "q", "")), ("namespace",
                 getattr(args, "namespace", None)), ("limit", getattr(args, "limit", 50)),
                 ("offset", getattr(args, "offset", 0))) if v not in (None, "")}, None),
        "show": ("GET", f"/admin/entries/{getattr(args, 'id', '')}", None, None),
        "delete": ("DELETE", f"/admin/entries/{getattr(args, 'id', '')}", None, None),
        "delete-prompt": ("POST", "/admin/entries/delete-prompt", None,
                          {"prompt": getattr(args, "prompt", ""), "namespace": getattr(args, "namespace", None)}),
        "purge": ("POST", "/admin/purge", None, {"fingerprint": getattr(args, "fingerprint", "")}),
        "reports": ("GET", "/admin/reports", None, None),
        "sweep": ("POST", "/admin/sweep", None, None),
    }
    method, path, params, body = calls[command]
    try:
        with httpx.Client(base_url=url, headers=headers, timeout=60, transport=transport) as client:
            response = client.request(method, path, params=params, json=body)
    except httpx.HTTPError as exc:
        print(f"dreamcache entries: cannot reach {url}: {exc}", file=sys.stderr)
        return 2
    if response.status_code >= 400:
        print(f"dreamcache entries: {response.status_code} {response.text}", file=sys.stderr)
        return 1
    print(json.dumps(response.json(), indent=2))
    return 0
