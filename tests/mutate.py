"""`make mutate`: the mutation score of the modules that decide, each against its own fast tests alone.

mutmut 3 reads one `[tool.mutmut]` table from the `pyproject.toml` of the directory it runs in, and
mutates every file it is told to against one test selection. Each target here gets its own working
directory under `mutants/<target>/` (git-ignored): a `pyproject.toml` naming one module and its test
files, `src` linked to the checkout's, and a `tests/` holding only those files. mutmut copies that into
`mutants/<target>/mutants/`, runs the tests once per mutant, and this script reads its verdicts back.

A target is one or more scopes: a module, or only some of its functions. `decision` follows the rules that
the refactor of issue 18 moved out of decision.py: the keys and seeds (`resolution.py`) and the embedded
text (`prompts.embedding_text`) are scored with it, against the same test file.

Score = killed / all mutants, where "no tests" and timeouts count as surviving. Exit status 1 when a target
is below the goal. `python tests/mutate.py matching decision` runs some targets; `--show` prints each
survivor's diff.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "mutants"
GOAL = 0.90
SUPPORT = ("conftest.py", "apphelpers.py")  # shared test helpers a test file may import


@dataclass(frozen=True)
class Scope:
    module: str  # path of a module to mutate, from the checkout's root
    functions: tuple[str, ...] = ()  # score only these (`name` or `Class.method`); () = the whole module


@dataclass(frozen=True)
class Target:
    scopes: tuple[Scope, ...]
    tests: tuple[str, ...]  # the test files that alone must kill its mutants
    goal: float | None = GOAL  # None: reported, not enforced

    @property
    def modules(self) -> list[str]:
        return list(dict.fromkeys(scope.module for scope in self.scopes))


#: The rules of decision.py before issue 18 moved them: keys, seeds and the viewer hash now live in resolution.py.
MOVED_FROM_DECISION = ("_digest", "compat_key", "exact_key", "reused_exact_key", "resume_key", "flight_key",
                       "request_seeds", "viewer_hash")

TARGETS = {
    "matching": Target((Scope("src/dreamcache/matching.py"),), ("tests/test_matching.py",)),
    "decision": Target(
        (Scope("src/dreamcache/decision.py"), Scope("src/dreamcache/resolution.py", MOVED_FROM_DECISION),
         Scope("src/dreamcache/prompts.py", ("embedding_text",))),
        ("tests/test_decision.py",),
    ),
    "webhook-address": Target(
        (Scope("src/dreamcache/webhooks.py", ("check_destination", "resolve_destination", "is_public",
                                              "_embedded_ipv4", "_host_allowed")),),
        ("tests/test_webhook_delivery.py",), goal=None,
    ),
    "keys": Target((Scope("src/dreamcache/keys.py"),), ("tests/test_keys_unit.py",), goal=None),
    "limits": Target((Scope("src/dreamcache/limits.py"),), ("tests/test_limits.py",), goal=None),
}

STATUS = {1: "killed", 3: "killed", 0: "survived", 5: "no tests", 33: "no tests", 34: "skipped", 36: "timeout",
          37: "caught by type check", -24: "timeout", 24: "timeout", 152: "timeout", 255: "timeout"}


def _config(target: Target) -> str:
    only = json.dumps(target.modules)
    tests = json.dumps(list(target.tests))
    return (
        "[tool.mutmut]\n"
        'source_paths = ["src/dreamcache"]\n'
        f"only_mutate = {only}\n"
        f"pytest_add_cli_args_test_selection = {tests}\n"
        'pytest_add_cli_args = ["-p", "no:cacheprovider", "-q", "-x"]\n'
        "use_git_change_detection = false\n"
        # forked from a process that never ran a test: lru caches (`analyse`, `tokens`) start empty per mutant
        'process_isolation = "forkserver"\n'
        "\n[tool.pytest.ini_options]\n"
        'filterwarnings = ["ignore::DeprecationWarning", "ignore::FutureWarning"]\n'
        'markers = ["gpu: needs a CUDA device", "slow: slower end-to-end tests"]\n'
    )


def prepare(name: str, target: Target) -> Path:
    """A fresh working directory for the target (earlier verdicts dropped: the source may have changed)."""
    work = WORK / name
    shutil.rmtree(work, ignore_errors=True)
    (work / "tests").mkdir(parents=True)
    (work / "src").symlink_to(ROOT / "src", target_is_directory=True)
    for rel in (*target.tests, *(f"tests/{s}" for s in SUPPORT)):
        (work / rel).symlink_to(ROOT / rel)
    (work / "pyproject.toml").write_text(_config(target))
    return work


def _patterns(target: Target) -> list[str]:
    """mutmut's name patterns for the scored functions, when every scope names some (else [], every mutant): the
    other functions' mutants are not run at all."""
    if not all(scope.functions for scope in target.scopes):
        return []
    patterns = []
    for scope in target.scopes:
        module = scope.module.removeprefix("src/").removesuffix(".py").replace("/", ".")
        for function in scope.functions:
            mangled = "x\u01c1" + "\u01c1".join(function.split(".")) if "." in function else f"x_{function}"
            patterns.append(f"{module}.{mangled}__mutmut_*")
    return patterns


def run_mutmut(work: Path, target: Target, children: int) -> None:
    # `mutmut run` through its click entry point in this interpreter (the venv's scripts may have a stale shebang).
    code = "import sys; from mutmut.__main__ import cli; sys.argv = ['mutmut'] + sys.argv[1:]; cli()"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    with open(work / "mutmut.log", "w") as log:
        done = subprocess.run([sys.executable, "-c", code, "run", "--max-children", str(children), *_patterns(target)],
                              cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        tail = (work / "mutmut.log").read_text(errors="replace")[-3000:]
        raise SystemExit(f"mutmut failed in {work} (exit {done.returncode}):\n{tail}")


def _function_of(mutant: str) -> str:
    """`name` or `Class.method` of a mutant (mutmut 3 names them `x_name__mutmut_N`, `xǁClassǁmethod__mutmut_N`)."""
    mangled = mutant.rsplit("__mutmut_", 1)[0].rsplit(".", 1)[-1]
    if mangled.startswith("x\u01c1"):
        return ".".join(mangled[2:].split("\u01c1"))
    return mangled.removeprefix("x_")


def verdicts(work: Path, target: Target) -> dict[str, str]:
    """Mutant name -> status, for the mutants this target scores."""
    out = {}
    for scope in target.scopes:
        meta = json.loads((work / "mutants" / f"{scope.module}.meta").read_text())
        for mutant, code in meta["exit_code_by_key"].items():
            if scope.functions and _function_of(mutant) not in scope.functions:
                continue
            out[mutant] = STATUS.get(code, "suspicious")
    return out


def show(work: Path, mutant: str) -> str:
    code = "import sys; from mutmut.__main__ import cli; sys.argv = ['mutmut'] + sys.argv[1:]; cli()"
    done = subprocess.run([sys.executable, "-c", code, "show", mutant], cwd=work, capture_output=True, text=True)
    return done.stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("targets", nargs="*", help=f"some of {', '.join(TARGETS)} (default: all)")
    parser.add_argument("--children", type=int, default=os.cpu_count() or 2, help="parallel mutants")
    parser.add_argument("--show", action="store_true", help="print the diff of every surviving mutant")
    args = parser.parse_args()
    unknown = [name for name in args.targets if name not in TARGETS]
    if unknown:
        parser.error(f"unknown targets {unknown}: choose from {list(TARGETS)}")
    failed = []
    lines = []
    for name in args.targets or list(TARGETS):
        target = TARGETS[name]
        work = prepare(name, target)
        run_mutmut(work, target, args.children)
        found = verdicts(work, target)
        killed = sum(status == "killed" for status in found.values())
        score = killed / len(found) if found else 0.0
        survivors = sorted(m for m, status in found.items() if status != "killed")
        goal = "" if target.goal is None else f" (goal {target.goal:.0%})"
        scopes = ", ".join(f"{scope.module}" + (f" ({' '.join(scope.functions)})" if scope.functions else "")
                           for scope in target.scopes)
        lines.append(f"{name}: {killed}/{len(found)} killed = {score:.1%}{goal}, {scopes} "
                     f"against {' '.join(target.tests)}")
        for mutant in survivors:
            lines.append(f"  {found[mutant]}: {mutant}")
            if args.show:
                lines.append(show(work, mutant))
        if target.goal is not None and score < target.goal:
            failed.append(name)
    print("\n".join(lines))
    if failed:
        print(f"below the goal: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
