# cogw tasks. `./scripts/setup.sh` first (installs apt packages and .venv); then `.venv/bin/just <task>`.
set shell := ["bash", "-euo", "pipefail", "-c"]

venv := justfile_directory() / ".venv/bin"

# list tasks
default:
    @{{venv}}/just --list

# install everything (apt: docker-registry, skopeo, htpasswd; .venv with cogw and dev tools)
setup:
    ./scripts/setup.sh

# lint, type-check and run every test (slow ones included): what CI runs
check: lint types test

# the whole test suite on 2 workers (slow property/stateful/stress tests included)
test *ARGS:
    {{venv}}/python -m pytest -n 2 --dist loadfile {{ARGS}}

# only the fast tests
test-fast *ARGS:
    {{venv}}/python -m pytest -n 2 --dist loadfile -m "not slow" {{ARGS}}

# only the slow property, stateful and stress tests
test-slow *ARGS:
    {{venv}}/python -m pytest -m slow {{ARGS}}

# ruff lint and format check
lint:
    {{venv}}/ruff check core shell tests benchmarks cogw/__init__.py
    {{venv}}/ruff format --check core shell tests benchmarks cogw/__init__.py

# ruff autofix and format
fmt:
    {{venv}}/ruff check --fix core shell tests benchmarks cogw/__init__.py
    {{venv}}/ruff format core shell tests benchmarks cogw/__init__.py

# mypy --strict on cogw (core and shell)
types:
    {{venv}}/mypy

# the main job: local registry, bundled real model, import → pull → prepare
demo:
    ./scripts/demo.sh

# benchmarks against the physical limit and peers, then the fleet scenario;
# writes docs/benchmarks.md and docs/fleet-benchmark.md
bench:
    {{venv}}/python -m benchmarks.run --out docs/benchmarks.md
    {{venv}}/python -m benchmarks.fleet --out docs/fleet-benchmark.md

# fleet scenario: N concurrent cold pulls with and without a warmed mirror; writes docs/fleet-benchmark.md
bench-fleet *ARGS:
    {{venv}}/python -m benchmarks.fleet --out docs/fleet-benchmark.md {{ARGS}}
