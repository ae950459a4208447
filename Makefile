# tasksync — the two commands: `make run` and `make test`.
CARGO ?= cargo
.PHONY: build run test lint fmt bench

## build: the web app (web/dist), then the release binary
## target/release/tasksync, which embeds it
build:
	cd web && npm ci --no-audit --no-fund --loglevel=error && npm run build
	$(CARGO) build --release --locked -p tasksync-server --bin tasksync

## run: build, then serve at http://127.0.0.1:8080 with SQLite in ./data/
## (dev mode: dev mailbox, GraphiQL, relaxed CORS; TASKSYNC_DEV=0 to turn it off)
run: build
	TASKSYNC_DEV=$${TASKSYNC_DEV:-1} exec ./target/release/tasksync serve

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
	cd web && npm ci --no-audit --no-fund --loglevel=error && node_modules/.bin/tsc --noEmit -p tsconfig.json

## fmt: format the Rust code
fmt:
	$(CARGO) fmt --all
