# dreamcache: the front door. `make demo` and `make test` do all the set-up on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# torch is pinned here: on a CPU-only machine with the local wheel this takes the CPU build; on a GPU host, CUDA.
TORCH_PIN ?= torch==2.13.0
DATA ?= ../shared/data

.PHONY: install web-deps cxx-deps wordnet-deps redis-deps wordlist bench-deps demo run test lint mutate openapi bench eval replay up down clean gpu-wheels

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

web-deps: ## what the browser test needs: Debian's chromium (root + apt-get only) and playwright-core (npm ci)
	@if [ -x /usr/bin/chromium ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium \
	    || echo "web-deps: installing chromium failed: the browser test will skip"; \
	else echo "web-deps: /usr/bin/chromium missing and not root with apt-get: the browser test will skip"; fi
	@if command -v npm >/dev/null; then cd tests/web && { npm ci --no-audit --no-fund \
	    || echo "web-deps: npm ci failed: the browser test will skip"; }; \
	else echo "web-deps: npm not found: the browser test will skip"; fi

cxx-deps: ## what torch.compile on the CPU needs (tests/test_compile.py): a C++ compiler (root + apt-get only)
	@if command -v g++ >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends g++ \
	    || echo "cxx-deps: installing g++ failed: the CPU compile test will skip"; \
	else echo "cxx-deps: g++ missing and not root with apt-get: the CPU compile test will skip"; fi

wordnet-deps: ## Debian's WordNet (wordnet-base; root + apt-get only): the test checks the packaged word list against it
	@if [ -d /usr/share/wordnet ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends wordnet-base \
	    || echo "wordnet-deps: installing wordnet-base failed: the word-list check will use the packaged list only"; \
	else echo "wordnet-deps: /usr/share/wordnet missing and not root with apt-get: the packaged list is used unchecked"; fi

wordlist: install wordnet-deps ## regenerate src/dreamcache/data/wordnet_words.txt.gz from WordNet
	$(BIN)/python -m dreamcache.words build

redis-deps: ## Debian's redis-server (root + apt-get only): the multi-replica tests start their own on a free port
	@if command -v redis-server >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends redis-server \
	    || echo "redis-deps: installing redis-server failed: the Redis tests will skip"; \
	else echo "redis-deps: redis-server missing and not root with apt-get: the Redis tests will skip"; fi

# The suite in TEST_WORKERS processes (pytest-xdist), each test file whole in one of them (--dist loadfile: module-
# scoped servers are started once). Most of the time is spent starting app and worker processes (CPU-bound
# imports): on 2 cores -n 3 was no faster than -n 2 (docs/testing.md). `make test TEST_WORKERS=0`: one process.
TEST_WORKERS ?= 2
test: install web-deps cxx-deps wordnet-deps redis-deps ## the whole suite, offline, in TEST_WORKERS processes
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile

# Mutation testing (mutmut 3, slow: minutes): each deciding module against its own fast tests alone; fails below
# 90% killed for matching.py and decision.py. Scores and the equivalent mutants: docs/testing.md.
mutate: install ## mutation score of matching.py, decision.py, the webhook address check, keys.py, limits.py
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev,mutate]'
	HF_HUB_OFFLINE=1 $(BIN)/python tests/mutate.py $(MUTATE_ARGS)

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy src

openapi: install ## regenerate openapi/openapi.json from the app
	$(BIN)/dreamcache openapi > openapi/openapi.json

bench-deps: ## the compiled HTTP load generator the hit-path benchmark drives the server with: Debian's wrk
	@if command -v wrk >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends wrk; \
	else echo "bench-deps: wrk missing and not root with apt-get: install wrk" && exit 1; fi

bench: install bench-deps redis-deps ## hit path (before/after, wrk), /recommend at 100k prompts, resumed vs full generation, replay at 50k/500k prompts, replicas and workers on Redis
	HF_HUB_OFFLINE=1 $(BIN)/python bench/bench_hit_path.py
	HF_HUB_OFFLINE=1 $(BIN)/python bench/bench_cluster.py
	HF_HUB_OFFLINE=1 $(BIN)/python bench/bench_recommend.py
	HF_HUB_OFFLINE=1 $(BIN)/python bench/bench_reuse.py
	HF_HUB_OFFLINE=1 $(BIN)/python bench/bench_access.py
	HF_HUB_OFFLINE=1 $(BIN)/python bench/bench_replay.py --data $(DATA)

# bench/gpu_check.sh runs on a GPU machine with torch (CUDA) and transformers but no network: carry these
# wheels there (git-ignored): our package, and what it imports that such a machine lacks, at the versions
# tested here, for CPython 3.12 on x86-64 Linux.
GPU_WHEELS ?= wheels
GPU_WHEEL_NAMES := diffusers DeepCache qdrant-client qdrant-edge-py boto3 botocore s3transfer jmespath fastapi \
	starlette uvicorn pydantic pydantic-core pydantic-settings python-dotenv annotated-types typing-inspection \
	typing-extensions anyio importlib-metadata lazy-importer opentelemetry-api h2 hpack hyperframe
GPU_PLATFORM := --only-binary=:all: --python-version 3.12 --implementation cp --platform manylinux_2_28_x86_64 \
	--platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64
gpu-wheels: install ## wheels for bench/gpu_check.sh into $(GPU_WHEELS)/ (must stay under the 64 MiB a device run carries)
	rm -rf $(GPU_WHEELS) && mkdir -p $(GPU_WHEELS)
	$(BIN)/pip wheel --quiet --no-deps --no-build-isolation -w $(GPU_WHEELS) .
	for name in $(GPU_WHEEL_NAMES); do \
	  version=$$($(BIN)/python -c 'import importlib.metadata as m, sys; print(m.version(sys.argv[1]))' $$name) \
	  && $(BIN)/pip download --quiet --no-deps $(GPU_PLATFORM) -d $(GPU_WHEELS) "$$name==$$version" || exit 1; \
	done
	@du -sh $(GPU_WHEELS)

eval: install ## hit-decision evaluation on ../shared/data (skips cleanly without it)
	HF_HUB_OFFLINE=1 $(BIN)/python bench/eval_threshold.py --data $(DATA) --out docs/cache-quality.md
	HF_HUB_OFFLINE=1 $(BIN)/python bench/eval_audit.py --data $(DATA) --out docs/cache-audit.md
	HF_HUB_OFFLINE=1 $(BIN)/python bench/eval_embedder.py --data $(DATA) --out docs/cache-embedder.md

STREAM ?= $(DATA)/sd_discord_dream-10.jsonl.gz
replay: install ## what hits and near-miss reuse would save on a real prompt stream (read in place)
	@if [ -f "$(STREAM)" ]; then HF_HUB_OFFLINE=1 $(BIN)/dreamcache replay "$(STREAM)" --ignore-seeds $(REPLAY_ARGS); \
	else echo "skipped: $(STREAM) not found"; fi

# The local stack needs a Docker engine with compose v2. `make up` picks the gpu profile when the host
# has an NVIDIA GPU (nvidia-smi lists one), else the cpu profile.
COMPOSE_PROFILE ?= $(shell nvidia-smi -L >/dev/null 2>&1 && echo gpu || echo cpu)

up: ## the full stack: app + Qdrant + MinIO (docker compose)
	docker compose --profile $(COMPOSE_PROFILE) up --build --detach
	@echo "app: http://localhost:8000  qdrant dashboard: http://localhost:6333/dashboard  minio console: http://localhost:9001"

down: ## stop the stack (volumes kept; `docker compose down -v` drops them)
	docker compose --profile gpu --profile cpu down

clean:
	rm -rf $(VENV) data .pytest_cache mutants
