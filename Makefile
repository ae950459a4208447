# tasksync — the two commands: `make run` and `make test`.
CARGO ?= cargo
# `make run` is for trying tasksync on this machine: dev mode (dev mailbox,
# relaxed CORS) unless the caller says otherwise.
TASKSYNC_DEV ?= 1
export TASKSYNC_DEV

.PHONY: build run test lint fmt bench

## build: the release binary target/release/tasksync
build:
	$(CARGO) build --release --locked -p tasksync-server --bin tasksync

## run: build, then serve at http://127.0.0.1:8080 with SQLite in ./data/
run: build
	./target/release/tasksync serve

## test: every test suite; ensures its own dependencies first
test:
	bash scripts/test.sh

## bench: start a release server on a fresh database and measure it
## (BENCH_ARGS="--scenarios fanout --subscribers 100" to narrow it down)
bench:
	$(CARGO) build --release --locked -p tasksync-server -p tasksync-bench
	./target/release/tasksync-bench $(BENCH_ARGS)

## lint: formatting and clippy, warnings are errors
lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

## fmt: format the Rust code
fmt:
	$(CARGO) fmt --all
