# syntax=docker/dockerfile:1
# Lanner's image: one image for every command (`lanner run`, `sidekick`, `ui`, `respond`).
#
#   docker build -t ghcr.io/lanner/lanner:0.1.0 .
#
# Stage 1 builds the CO-RE eBPF probe with clang and bpftool (scripts/build_probe.sh);
# stage 2 builds wheels of Lanner and its dependencies; stage 3 is a slim Python runtime
# with libbpf, the probe, the default rules and configuration, and no compiler.
# x86_64 only: the probe is built for __TARGET_ARCH_x86.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- 1. the eBPF probe -------------------------------------------------------------------
FROM debian:bookworm AS probe
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      clang llvm bpftool libbpf-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY scripts/build_probe.sh scripts/build_probe.sh
COPY src/lanner/sources/syscall/probe/lanner_probe.bpf.c src/lanner/sources/syscall/probe/lanner_probe.bpf.c
# vmlinux.h is generated from the build host's kernel BTF (/sys/kernel/btf/vmlinux, seen
# by RUN steps): build on a host whose kernel has CONFIG_DEBUG_INFO_BTF. The probe is CO-RE,
# so it then loads on any kernel with BTF, not only the build host's.
ARG LANNER_BTF=/sys/kernel/btf/vmlinux
RUN LANNER_PROBE_BUILD=/out LANNER_BTF=${LANNER_BTF} bash scripts/build_probe.sh

# --- 2. wheels ---------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS wheels
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip wheel --no-cache-dir --wheel-dir /wheels ".[services]"

# --- 3. runtime --------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="lanner" \
      org.opencontainers.image.description="Runtime threat detection and response, compatible with Falco" \
      org.opencontainers.image.licenses="Apache-2.0"
# libbpf.so.1 is what the probe loader binds with ctypes
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends libbpf1 \
 && rm -rf /var/lib/apt/lists/*
COPY --from=wheels /wheels /tmp/wheels
RUN pip install --no-cache-dir --no-index --find-links /tmp/wheels "lanner[services]" \
 && rm -rf /tmp/wheels
COPY --from=probe /out/lanner_probe.bpf.o /usr/share/lanner/lanner_probe.bpf.o
# default rules and configuration where lanner.yaml and the Kubernetes ConfigMap look
COPY src/lanner/rules/lanner_rules.yaml src/lanner/rules/lanner_k8s_audit_rules.yaml /etc/lanner/
COPY lanner.yaml /etc/lanner/lanner.yaml
RUN mkdir -p /etc/lanner/rules.d \
 && touch /etc/lanner/lanner_rules.local.yaml \
 && useradd --system --uid 10001 --user-group --home-dir /var/lib/lanner --create-home lanner
ENV LANNER_PROBE=/usr/share/lanner/lanner_probe.bpf.o \
    PYTHONUNBUFFERED=1
# sidekick, ui and respond run as this user; the engine (`lanner run`) needs root with
# CAP_BPF and CAP_PERFMON: `docker run --user 0 ...` or the DaemonSet's securityContext.
USER 10001
WORKDIR /var/lib/lanner
# 8765 web server (/healthz, /metrics), 9765 k8s audit webhook, 2801 sidekick, 2802 ui,
# 2804 respond
EXPOSE 8765 9765 2801 2802 2804
ENTRYPOINT ["lanner"]
CMD ["run", "-c", "/etc/lanner/lanner.yaml"]
