# syntax=docker/dockerfile:1
#
# audiotap container image.
#   docker build -t audiotap .
#   docker run --rm -p 8080:8080 -v audiotap-data:/data -e AUDIOTAP_API_KEYS=change-me audiotap
#   docker run --rm -v "$PWD:/work" -w /work audiotap extract in.mp4 -o out.wav
#
# System packages come from scripts/system-packages.sh, the same list CI and the README
# use: "build" in the builder stage, "runtime" in the final stage.

############################ builder ############################
FROM rust:1.95-bookworm AS builder
WORKDIR /src

COPY scripts/system-packages.sh scripts/system-packages.sh
RUN bash scripts/system-packages.sh install build \
 && rm -rf /var/lib/apt/lists/*

# Dependency layer: build every dependency against a placeholder crate, so that editing
# src/ does not rebuild them. This layer changes only when Cargo.toml or Cargo.lock do.
COPY Cargo.toml Cargo.lock ./
RUN mkdir -p src \
 && echo 'fn main() {}' > src/main.rs \
 && : > src/lib.rs \
 && cargo build --release --locked \
 && rm -rf src target/release/audiotap target/release/audiotap.d \
           target/release/.fingerprint/audiotap-* \
           target/release/deps/audiotap-* target/release/deps/libaudiotap-*

# The real crate. Touch the sources: COPY keeps the context's mtimes, which can be older
# than the placeholder build and would make cargo think nothing changed.
COPY . .
RUN find src -name '*.rs' -exec touch {} + \
 && cargo build --release --locked \
 && install -m 0755 target/release/audiotap /usr/local/bin/audiotap

############################ runtime ############################
FROM debian:bookworm-slim AS runtime

COPY scripts/system-packages.sh /usr/local/share/audiotap/system-packages.sh
RUN bash /usr/local/share/audiotap/system-packages.sh install runtime \
 && rm -rf /var/lib/apt/lists/*

# Unprivileged user with a fixed numeric id (works with runAsNonRoot). /data is created
# and owned before VOLUME so that a fresh volume inherits the ownership.
RUN groupadd --system --gid 10001 audiotap \
 && useradd --system --uid 10001 --gid audiotap --home-dir /data --no-create-home \
            --shell /usr/sbin/nologin audiotap \
 && mkdir -p /data \
 && chown audiotap:audiotap /data

COPY --from=builder /usr/local/bin/audiotap /usr/local/bin/audiotap
# Fail the image build, not the first request, if the runtime package list misses a
# shared library the binary links.
RUN if ldd /usr/local/bin/audiotap | grep 'not found'; then \
      echo "scripts/system-packages.sh runtime misses the libraries above" >&2; exit 1; \
    fi \
 && /usr/local/bin/audiotap --help >/dev/null

# Listen on all interfaces inside the container. Without AUDIOTAP_API_KEYS the service
# answers loopback clients only (see README), so set keys to reach it through -p.
ENV AUDIOTAP_LISTEN=0.0.0.0:8080 \
    AUDIOTAP_DATA_DIR=/data
VOLUME /data
WORKDIR /data
USER 10001:10001
EXPOSE 8080

# No HEALTHCHECK: the slim image has no curl/wget, and the image also serves one-shot
# CLI runs (`docker run ... audiotap extract ...`) for which a health check is wrong.
# Orchestrators should probe GET /healthz (liveness) and GET /readyz (readiness) on 8080.
# For plain Docker, this works with bash alone:
#   HEALTHCHECK CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/8080 && printf 'GET /healthz HTTP/1.0\\r\\n\\r\\n' >&3 && head -n1 <&3 | grep -q ' 200 '"]
ENTRYPOINT ["audiotap"]
CMD ["serve"]
