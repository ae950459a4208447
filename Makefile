# tasksync — the two commands: `make run` and `make test`.
CARGO ?= cargo
NPM ?= npm
.PHONY: build run test lint fmt bench web image

# The web app is rebuilt only when one of its inputs is newer than its
# output: node_modules from the lockfile, web/dist from the sources (unit
# tests aside). Cargo's own check, run every time, is what keeps the Rust
# side up to date; it takes well under a second when nothing changed.
WEB_SOURCES := $(shell find web/src web/public -type f ! -name '*.test.ts' ! -name '*.test.tsx') \
	web/index.html web/vite.config.ts web/tsconfig.json

web/node_modules/.package-lock.json: web/package.json web/package-lock.json
	cd web && $(NPM) ci --no-audit --no-fund --loglevel=error
	touch $@

web/dist/index.html: web/node_modules/.package-lock.json $(WEB_SOURCES)
	cd web && node_modules/.bin/vite build --logLevel warn
	touch $@

## web: the web app in web/dist (npm ci and vite build, each only when needed)
web: web/dist/index.html

## build: the web app, then the release binary target/release/tasksync,
## which embeds it
build: web/dist/index.html
	$(CARGO) build --release --locked -p tasksync-server --bin tasksync

## run: build, then serve at http://127.0.0.1:8080 with SQLite in ./data/
## (dev mode: dev mailbox, GraphiQL, relaxed CORS; TASKSYNC_DEV=0 to turn it off).
## The binary is the test build's (target/debug, the dev profile),
## which reads web/dist from disk: a web change needs no Rust rebuild.
run: web/dist/index.html
	$(CARGO) build --locked -p tasksync-server --bin tasksync
	TASKSYNC_DEV=$${TASKSYNC_DEV:-1} exec ./target/debug/tasksync serve

## test: every test suite; ensures its own dependencies first
test:
	MAKE="$(MAKE)" bash scripts/test.sh

## bench: start a release server on a fresh database and measure it
## (BENCH_ARGS="--scenarios fanout --subscribers 100" to narrow it down)
bench:
	$(CARGO) build --release --locked -p tasksync-server -p tasksync-bench
	./target/release/tasksync-bench $(BENCH_ARGS)

## lint: formatting, clippy, tsc and ESLint, warnings are errors; then
## scripts/lint-deploy.sh: workflows, Dockerfile, shell scripts, the systemd
## unit and the compose file, offline
lint: web/node_modules/.package-lock.json
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings
	cd web && node_modules/.bin/tsc --noEmit -p tsconfig.json
	cd web && node_modules/.bin/eslint --max-warnings 0 .
	bash scripts/lint-deploy.sh

## image: the container image around a static release binary of this
## machine (glibc with crt-static: no musl target here; the Dockerfile's
## own build stage makes a musl one), checked and run by
## scripts/image-test.sh, saved as target/image/tasksync.oci.tar
## (`podman load -i` or `skopeo copy oci-archive:...` it). With Docker,
## `docker build .` builds the real thing from source.
IMAGE_HOST := $(shell rustc -vV 2>/dev/null | sed -n 's/^host: //p')
image: web/dist/index.html
	RUSTFLAGS="-C target-feature=+crt-static" $(CARGO) build --release --locked \
		-p tasksync-server --bin tasksync --target $(IMAGE_HOST)
	IMAGE_BIN=target/$(IMAGE_HOST)/release/tasksync IMAGE_REQUIRE_STATIC=1 \
		IMAGE_SAVE=target/image/tasksync.oci.tar IMAGE_TAG=localhost/tasksync:dev \
		bash scripts/image-test.sh

## fmt: format the Rust code
fmt:
	$(CARGO) fmt --all
