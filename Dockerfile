#
# The Clawdbot gateway (Rust) as a container image. Guide: docs/deploy.md.
#
#   docker build -t clawdbot:local .
#   docker run -d --init -p 127.0.0.1:18789:18789 -e CLAWDBOT_GATEWAY_TOKEN="$T" \
#     -v "$HOME/.clawdbot:/home/node/.clawdbot" -v "$HOME/clawd:/home/node/clawd" clawdbot:local
#
# Two runtime flavours, chosen by the build argument CLAWDBOT_DOCKER_APT_PACKAGES:
#   empty (default)  distroless glibc base + the binary + busybox (the `sh` the agent's
#                    exec tool runs, and `wget` for the health check); size: BENCHMARKS.md
#   "ffmpeg git ..." debian:trixie-slim with those apt packages installed
# Everything is Debian 13 (trixie): builder, runtimes and busybox share one glibc.
# Both run as uid 1000 with HOME=/home/node, so the original's volume paths
# (/home/node/.clawdbot, /home/node/clawd) keep working. User, HOME, port, health check
# and command are the contract in nix/container-contract.json (nix/docker.nix reads it).
#
# Where the binary comes from, by the build argument CLAWDBOT_BINARY_FROM:
#   cargo (default)  built here by `cargo build --release --locked` from the context
#   prebuilt         the file CLAWDBOT_PREBUILT_BINARY of the context, built outside
#                    (CI builds on the host: no Rust image can be pulled there)
# No `# syntax=` line: it would pull a frontend image; the engine's built-in BuildKit
# frontend (Docker >= 20.10) reads everything here.

ARG RUST_VERSION=1.95
ARG CLAWDBOT_DOCKER_APT_PACKAGES=""
ARG CLAWDBOT_BINARY_FROM=cargo

# --- tools: busybox and the runtime user's files ------------------------------------------
FROM debian:trixie-slim AS tools
# busybox-static: a 2 MB shell, coreutils and wget for the distroless runtime, with a
# link per applet so commands the agent runs are found on PATH.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends busybox-static \
 && rm -rf /var/lib/apt/lists/* \
 && install -D -m 0755 "$(command -v busybox)" /out/bin/busybox \
 && for applet in $(/out/bin/busybox --list); do \
      [ "$applet" = busybox ] || ln -s busybox "/out/bin/$applet"; \
    done

# The runtime user (uid/gid 1000, "node" as in the original's image) and its home.
RUN install -d -m 0755 /rootfs/etc \
 && install -d -m 0755 -o 1000 -g 1000 /rootfs/home/node \
 && install -d -m 0700 -o 1000 -g 1000 /rootfs/home/node/.clawdbot \
 && install -d -m 0755 -o 1000 -g 1000 /rootfs/home/node/clawd \
 && printf '%s\n' \
      'root:x:0:0:root:/root:/bin/sh' \
      'nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin' \
      'nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin' \
      'node:x:1000:1000:clawdbot:/home/node:/bin/sh' >/rootfs/etc/passwd \
 && printf '%s\n' \
      'root:x:0:' \
      'nobody:x:65534:' \
      'nonroot:x:65532:' \
      'node:x:1000:' >/rootfs/etc/group

# --- the binary, built here (default) -----------------------------------------------------
FROM rust:${RUST_VERSION}-slim-trixie AS build-cargo
WORKDIR /src
# The crate embeds ui/ and src/config/schema/original.json at compile time; .dockerignore
# keeps target/, .git, docs and tests out of the context.
COPY . .
RUN --mount=type=cache,id=clawdbot-cargo-registry,target=/usr/local/cargo/registry \
    --mount=type=cache,id=clawdbot-target,target=/src/target \
    cargo build --release --locked \
 && install -D -m 0755 target/release/clawdbot /out/clawdbot

# --- the binary, built outside (CLAWDBOT_BINARY_FROM=prebuilt) ----------------------------
FROM scratch AS build-prebuilt
ARG CLAWDBOT_PREBUILT_BINARY=clawdbot
COPY ${CLAWDBOT_PREBUILT_BINARY} /out/clawdbot

# hadolint ignore=DL3006
FROM build-${CLAWDBOT_BINARY_FROM} AS binary

# --- runtime: distroless (default) -------------------------------------------------------
FROM gcr.io/distroless/cc-debian13:nonroot AS runtime
USER 0:0
COPY --from=tools /rootfs/etc/passwd /rootfs/etc/group /etc/
COPY --from=tools /out/bin/ /usr/local/bin/
# No shell yet, so exec form: /bin/sh for the exec tool, `fly ssh console` and `docker exec`.
# hadolint ignore=DL4005
RUN ["/usr/local/bin/busybox", "sh", "-c", "mkdir -p /bin && ln -s /usr/local/bin/busybox /bin/sh"]
COPY --from=tools --chown=1000:1000 /rootfs/home/ /home/
COPY --from=binary /out/clawdbot /usr/local/bin/clawdbot
USER 1000:1000

# --- runtime: Debian with extra apt packages (CLAWDBOT_DOCKER_APT_PACKAGES) -------------
FROM debian:trixie-slim AS runtime-apt
ARG CLAWDBOT_DOCKER_APT_PACKAGES
# The packages are a space-separated list, split by the shell on purpose.
# hadolint ignore=DL3008
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      ca-certificates $CLAWDBOT_DOCKER_APT_PACKAGES \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/* \
 && groupadd --gid 1000 node \
 && useradd --uid 1000 --gid 1000 --home-dir /home/node --shell /bin/bash node
COPY --from=tools /out/bin/busybox /usr/local/bin/busybox
COPY --from=tools --chown=1000:1000 /rootfs/home/ /home/
COPY --from=binary /out/clawdbot /usr/local/bin/clawdbot
USER 1000:1000

# --- the image: runtime, or runtime-apt when packages were asked for ---------------------
# hadolint ignore=DL3006
FROM runtime${CLAWDBOT_DOCKER_APT_PACKAGES:+-apt} AS gateway
ENV HOME=/home/node \
    CLAWDBOT_GATEWAY_PORT=18789
USER 1000:1000
WORKDIR /home/node
EXPOSE 18789
# Liveness: /healthz answers 200 without auth while the process serves. It probes 18789:
# a gateway started on another --port needs --health-cmd too (Fly.io uses its own checks).
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["/usr/local/bin/busybox", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:18789/healthz"]
# The token comes from CLAWDBOT_GATEWAY_TOKEN (or CLAWDBOT_GATEWAY_TOKEN_FILE, or the config);
# without one `--bind lan` refuses to start.
CMD ["clawdbot", "gateway", "--bind", "lan", "--port", "18789"]
