# syntax=docker/dockerfile:1
# One image, every flagedge binary: flagedge-edge (default), flagedge-core,
# flagedge-sync, flagedge-loadtest, flagedge-eval. The build stage runs
# scripts/build-release.sh, which CI runs too.

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
# 1. Dependencies, in their own layer: only the manifests and the lock.
COPY Cargo.toml Cargo.lock ./
COPY core/engine/Cargo.toml core/engine/
COPY core/eval/Cargo.toml core/eval/
COPY core/server/Cargo.toml core/server/
COPY cloud/Cargo.toml cloud/
COPY edge/Cargo.toml edge/
COPY sync/Cargo.toml sync/
COPY loadtest/Cargo.toml loadtest/
COPY testkit/Cargo.toml testkit/
COPY scripts/build-release.sh scripts/
RUN scripts/build-release.sh dependencies
# 2. The sources, and the binaries.
COPY . .
RUN scripts/build-release.sh binaries /out

FROM debian:bookworm-slim AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --home-dir /var/lib/flagedge --create-home flagedge
COPY --from=build /out/ /usr/local/bin/
COPY examples /usr/share/flagedge/examples
USER 10001:10001
WORKDIR /var/lib/flagedge
# The edge's last good documents. Declared so that a runtime's scratch volume here (ECS
# Fargate's readonlyRootFilesystem setup, compose) starts owned by the flagedge user.
VOLUME ["/var/lib/flagedge"]
# Listen on every interface inside the container; JSON logs for collectors.
# Each component reads FLAGEDGE_BIND: set it per service (edge 8000, core 8080, sync 8090).
ENV FLAGEDGE_BIND=0.0.0.0:8000 \
    FLAGEDGE_LOG_FORMAT=json \
    FLAGEDGE_PERSIST_DIR=/var/lib/flagedge/documents \
    FLAGEDGE_HEALTH_PORT=8000
EXPOSE 8000 8080 8090
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD curl -fsS "http://127.0.0.1:${FLAGEDGE_HEALTH_PORT}/health" >/dev/null || exit 1
ENTRYPOINT ["flagedge-edge"]
