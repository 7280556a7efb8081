"""Walk one request through the modules: which dreamcache modules a hit and a miss pass, in call order.

Runs the app in-process (tiny model, a temporary data dir), sends one miss then the same prompt again
(a hit), and records every call into a `dreamcache` function made on behalf of the request: under the
`/generate` handler, and for a miss also under the code that writes its pictures back when the
generation is done (the worker process is not traced). It prints, per request: the calls that cross
from one module to another (module changes), how many of them climb back up (the callee imports the
caller, directly or not: a call against the direction of the imports, such as a callback), the
distinct modules, and the modules in the order they are first entered. Run it on two checkouts
(`PYTHONPATH=<checkout>/src`) to compare layouts: `python bench/walk_request.py`.
"""

from __future__ import annotations

import ast
import asyncio
import sys
import tempfile
import threading
from collections import Counter
from pathlib import Path
from types import FrameType
from typing import Any

import httpx

from dreamcache.app import create_app
from dreamcache.settings import Settings

ROOTS = {"generate", "write_back", "_follow"}  # the handler, and the write-back (before / after the boundary)
SKIP = ("dreamcache.settings", "dreamcache.times", "dreamcache.metrics", "dreamcache.limits")  # bookkeeping


def _module(frame: FrameType) -> str | None:
    name = frame.f_globals.get("__name__", "")
    return name if name.startswith("dreamcache") and not name.startswith(SKIP) else None


def _under_root(frame: FrameType | None) -> bool:
    if threading.current_thread().name.startswith("asyncio_"):
        return True  # the loop's worker threads (`asyncio.to_thread`): only the walked request uses them meanwhile
    while frame is not None:
        if frame.f_code.co_name in ROOTS and (_module(frame) or "").startswith(("dreamcache.api", "dreamcache.cache")):
            return True
        frame = frame.f_back
    return False


class Walk:
    def __init__(self) -> None:
        self.modules: list[str] = []
        self.calls: list[tuple[str, str]] = []  # (caller module, callee module) of each cross-module call
        self.lock = threading.Lock()
        self._frames: dict[int, FrameType] = {}  # frames seen: a coroutine resumed is no new call

    def profile(self, frame: FrameType, event: str, _: Any) -> None:
        if event != "call" or id(frame) in self._frames:
            return
        self._frames[id(frame)] = frame
        module = _module(frame)
        if module is None or not _under_root(frame):
            return
        caller = frame.f_back
        while caller is not None and not caller.f_globals.get("__name__", "").startswith("dreamcache"):
            caller = caller.f_back
        if caller is None:
            return
        if caller.f_globals["__name__"].startswith(SKIP):
            return  # what bookkeeping modules read (a metric's gauge) is not the request's path
        caller_module = _module(caller)
        if caller_module is None or caller_module == module:
            return  # a call inside one module: no step
        with self.lock:
            self.calls.append((caller_module, module))
            if module not in self.modules:
                self.modules.append(module)

    def report(self, label: str, imports: dict[str, set[str]]) -> None:
        up = [(a, b) for a, b in self.calls if a in _reachable(b, imports)]
        short = [m.removeprefix("dreamcache.") for m in self.modules]
        print(f"{label}: {len(self.calls)} module changes ({len(set(self.calls))} distinct caller -> callee pairs), "
              f"{len(up)} climb back up, {len(set(self.modules))} modules\n  entered: " + " > ".join(short))
        if "-v" in sys.argv:
            for (a, b), count in sorted(Counter(self.calls).items(), key=lambda kv: -kv[1]):
                print(f"  call: {a.removeprefix('dreamcache.')} -> {b.removeprefix('dreamcache.')} x{count}")
        for a, b in sorted(set(up)):
            print(f"  up: {a.removeprefix('dreamcache.')} -> {b.removeprefix('dreamcache.')} "
                  f"(x{up.count((a, b))})")


def _imports() -> dict[str, set[str]]:
    """Module -> the dreamcache modules it imports (at any level of the file), from the sources."""
    import dreamcache

    root = Path(dreamcache.__file__).parent
    graph: dict[str, set[str]] = {}
    for path in root.rglob("*.py"):
        name = ".".join(("dreamcache", *path.relative_to(root).with_suffix("").parts)).removesuffix(".__init__")
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("dreamcache"):
                found.add(node.module)
                found.update(f"{node.module}.{alias.name}" for alias in node.names)
        graph[name] = found
    return {name: {m for m in found if m in graph} for name, found in graph.items()}


def _reachable(start: str, imports: dict[str, set[str]]) -> set[str]:
    seen: set[str] = set()
    todo = [start]
    while todo:
        for module in imports.get(todo.pop(), set()):
            if module not in seen:
                seen.add(module)
                todo.append(module)
    return seen


async def walk_both(settings: Settings) -> None:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://walk", timeout=120) as client:
            while (await client.get("/readyz")).status_code != 200:
                await asyncio.sleep(0.2)
            body = {"prompt": "a lighthouse on a cliff in a storm, oil painting"}
            for label in ("miss", "hit"):
                walk = Walk()
                threading.setprofile(walk.profile)
                sys.setprofile(walk.profile)
                try:
                    answer = await client.post("/generate", json=body)
                    await asyncio.sleep(0.5)  # the write-back's last bookkeeping
                finally:
                    sys.setprofile(None)
                    threading.setprofile(None)  # type: ignore[arg-type]
                assert answer.status_code == 200, answer.text
                walk.report(f"{label} ({answer.json()['source']})", _imports())


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(model="tiny", data_dir=Path(tmp), default_width=64, default_height=64, default_steps=4,
                            batch_wait_ms=5.0, default_wait_s=60.0, reuse=False)
        asyncio.run(walk_both(settings))


if __name__ == "__main__":
    main()
