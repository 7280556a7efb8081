"""The web process stays free of torch (issue 12): it embeds with ONNX Runtime and counts CLIP tokens with the
tokenizer alone; only the worker process imports torch and diffusers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = """
import sys
sys.path.insert(0, {tests!r})
from apphelpers import running_app, tiny_settings
from pathlib import Path

def main():
    with running_app(tiny_settings(Path({data!r}))) as client:
        first = client.post("/generate", json={{"prompt": "a paper lantern over a pond"}})
        again = client.post("/generate", json={{"prompt": "a paper lantern over a pond"}})
        assert first.status_code == 200 and again.json()["source"] == "cache", again.text
        print("torch" in sys.modules, "diffusers" in sys.modules)

if __name__ == "__main__":
    main()
"""


def test_the_web_process_never_imports_torch(tmp_path: Path) -> None:
    script = tmp_path / "serve_once.py"
    tests = str(Path(__file__).resolve().parent)
    script.write_text(SCRIPT.format(tests=tests, data=str(tmp_path / "data")))
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.strip().splitlines()[-1] == "False False", run.stdout
