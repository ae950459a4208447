# syntax=docker/dockerfile:1
# The tasksync container image (docs/deploy.md, "The container image").
#
#   docker build -t tasksync --build-arg VERSION=0.1.0 \
#     --build-arg REVISION="$(git rev-parse HEAD)" .
#
# Stages: `web` builds the web app (npm ci, vite build); `build` compiles a
# static musl binary that embeds it; `dist` holds the runtime's files, each
# at its place (/tasksync, the CA bundle, an empty /data); the last stage is
# FROM scratch and copies them. `dist` can be replaced by a directory with
# the same files: `--build-context dist=DIR`. The release workflow does that
# with the binaries it has attested, so the image holds those very files,
# and scripts/image-test.sh does it with a binary built on the test machine.

ARG RUST_VERSION=1.95
ARG NODE_VERSION=20

FROM node:${NODE_VERSION}-bookworm-slim AS web
WORKDIR /src/web
COPY web/package.json web/package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error
COPY web/ ./
RUN node_modules/.bin/vite build --logLevel warn

FROM rust:${RUST_VERSION}-bookworm AS build
# musl-gcc compiles the C parts (SQLite, mimalloc) for the musl target.
# Debian's archive keeps one version of each package: a pin would break.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends musl-tools ca-certificates \
 && rm -rf /var/lib/apt/lists/*
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN rustup target add "$(uname -m)-unknown-linux-musl"
WORKDIR /src
COPY . .
COPY --from=web /src/web/dist web/dist
# The commit `tasksync --version` and /healthz report (.git is not sent).
ARG REVISION=unknown
RUN target="$(uname -m)-unknown-linux-musl" \
 && TASKSYNC_GIT_COMMIT="$(printf '%.12s' "$REVISION")" \
    cargo build --release --locked -p tasksync-server --bin tasksync --target "$target" \
 && mkdir -p /out/data /out/etc/ssl/certs \
 && cp "target/$target/release/tasksync" /out/tasksync \
 && cp /etc/ssl/certs/ca-certificates.crt /out/etc/ssl/certs/

FROM scratch AS dist
COPY --from=build /out/ /

FROM scratch
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=
ARG SOURCE=
LABEL org.opencontainers.image.title="tasksync" \
      org.opencontainers.image.description="Self-hosted real-time task sync server, one static binary with its web app" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.vendor="tasksync"
COPY --from=dist /tasksync /tasksync
COPY --from=dist /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=dist --chown=65532:65532 /data /data
ENV TASKSYNC_DATABASE_URL=sqlite:///data/tasksync.db \
    TASKSYNC_LISTEN=0.0.0.0:8080 \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
USER 65532:65532
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8080
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["/tasksync", "healthcheck"]
ENTRYPOINT ["/tasksync"]
CMD ["serve"]
