# Job images for "python" and "duckdb" custom jobs. See README.md.
# Every target calls one script in scripts/; the logic lives there.

# Image tag.
VERSION ?= dev
# Image name prefix, such as registry.example.com/team/ (keep the trailing slash).
REGISTRY ?=
# Platforms of a published build (make build).
PLATFORMS ?= linux/amd64,linux/arm64
# How long make fuzz runs, in seconds, shared between its targets.
FUZZ_SECONDS ?= 600
export VERSION REGISTRY PLATFORMS FUZZ_SECONDS

.PHONY: local python-local duckdb-local build python-build duckdb-build builder release-test orchestrator-test test fuzz bench lint lock

## Build for this machine and load into the local engine.
local: python-local duckdb-local
python-local:
	scripts/build-image python
duckdb-local:
	scripts/build-image duckdb

## Build for PLATFORMS and push to REGISTRY (needs a multi-platform buildx builder).
build: python-build duckdb-build
python-build:
	scripts/build-image --push python
duckdb-build:
	scripts/build-image --push duckdb

## Give a machine without a multi-platform buildx builder one (BuildKit, emulation, base).
builder:
	scripts/builder-up

## Push both images for both platforms to a loopback registry, pull each back and run it.
release-test:
	scripts/release-test

## Jobs through Bacalhau: its custom job types (v1.4.0) and the job templates (v1.9.3).
orchestrator-test:
	scripts/orchestrator-test

## Launcher unit tests, then the conformance suite against both images.
test:
	scripts/test

## Fuzz the whole launcher and its bundle stage for FUZZ_SECONDS in all (FUZZ_RUNS=N stops each after N inputs).
fuzz:
	scripts/fuzz

## Time the launcher and the installs against the plain alternatives (see bench/README.md).
bench:
	scripts/bench

## Type check, Python lint, shellcheck, hadolint.
lint:
	scripts/lint

## Re-pin from images/*/*.in what the images install from PyPI (DuckDB: one version for both).
lock:
	images/lock
