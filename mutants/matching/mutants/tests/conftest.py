"""Shared test set-up: everything offline, nothing downloaded, no DREAMCACHE_* leaking in from the shell."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
for _name in [name for name in os.environ if name.startswith("DREAMCACHE_")]:
    del os.environ[_name]
