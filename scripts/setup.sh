#!/usr/bin/env bash
# Idempotent set-up for a fresh Debian machine: apt packages from scripts/apt-packages.txt,
# then a virtualenv in .venv with lanner installed editable with its extras.
set -euo pipefail
cd "$(dirname "$0")/.."

mapfile -t wanted < <(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' scripts/apt-packages.txt)
missing=()
for pkg in "${wanted[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
# re-install (and rebuild the native module) when the project or its C sources change
stamp=.venv/.installed-$(cat pyproject.toml src/lanner/sources/syscall/native/*.[ch] | sha1sum | cut -c1-12)
if [ ! -f "$stamp" ]; then
    .venv/bin/pip install -q --upgrade pip
    .venv/bin/pip install -q -e ".[services,dev]"
    rm -f .venv/.installed-*
    touch "$stamp"
fi
# bytecode for the sources, as a (non-editable) pip install or the image writes it: the
# editable install compiles nothing, and under PYTHONDONTWRITEBYTECODE every lanner
# command then recompiled every module it imports (a third of a replay's start-up)
.venv/bin/python -m compileall -q -j0 src >/dev/null

# The live eBPF probe (needs the kernel's BTF; without it live capture stays unavailable
# and `lanner run` says so, while replays and the services work).
if [ -r /sys/kernel/btf/vmlinux ]; then
    bash scripts/build_probe.sh
else
    echo "setup: no /sys/kernel/btf/vmlinux: the live probe is not built (replays still work)" >&2
fi

# helm and kubectl for tests/deploy (the chart's lint, template and schema checks).
bash scripts/install_k8s_tools.sh

# A real kube-apiserver and etcd for tests/deploy (helm install into an API server): built
# once per machine into ~/.cache/lanner/kube (about 7 minutes cold; then nothing to do).
bash scripts/build_kube_apiserver.sh
