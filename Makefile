# dreamcache: the front door. `make demo` and `make test` do all the set-up on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# torch is pinned here: on a CPU-only machine with the local wheel this takes the CPU build; on a GPU host, CUDA.
TORCH_PIN ?= torch==2.13.0
DATA ?= ../shared/data

.PHONY: install demo run test lint openapi bench eval up down clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check "$(TORCH_PIN)"
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

install: $(BIN)/.installed ## create the virtualenv with everything (CPU torch here)

demo: install ## tiny model, embedded defaults, cache pre-populated; prints the URL
	HF_HUB_OFFLINE=1 $(BIN)/dreamcache demo

run: install ## the real model ($$DREAMCACHE_MODEL), fp16 + DPM-Solver++ + DeepCache on CUDA
	$(BIN)/dreamcache serve

test: install ## the whole suite, offline
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy src

openapi: install ## regenerate openapi/openapi.json from the app
	$(BIN)/dreamcache openapi > openapi/openapi.json

bench: install ## hit-path latency/throughput, Qdrant Edge vs qdrant-client local mode
	HF_HUB_OFFLINE=1 $(BIN)/python bench/bench_hit_path.py

eval: install ## threshold evaluation on ../shared/data (skips cleanly without it)
	HF_HUB_OFFLINE=1 $(BIN)/python bench/eval_threshold.py --data $(DATA) --out docs/cache-quality.md

clean:
	rm -rf $(VENV) data .pytest_cache
