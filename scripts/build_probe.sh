#!/usr/bin/env bash
# Build Lanner's CO-RE eBPF probe: vmlinux.h from the running kernel's BTF (bpftool), then
# clang -target bpf. Idempotent: rebuilds only when the source, the BTF or this script
# changed. Output: build/probe/lanner_probe.bpf.o (override the dir with LANNER_PROBE_BUILD;
# LANNER_PROBE_SRC builds another source, e.g. bench/probe_variants.py's measurement builds).
# Needs the Debian packages clang, llvm, bpftool, libbpf-dev (scripts/apt-packages.txt).
set -euo pipefail
cd "$(dirname "$0")/.."

SRC=${LANNER_PROBE_SRC:-src/lanner/sources/syscall/probe/lanner_probe.bpf.c}
OUT=${LANNER_PROBE_BUILD:-build/probe}
BTF=${LANNER_BTF:-/sys/kernel/btf/vmlinux}
OBJ=$OUT/lanner_probe.bpf.o

for tool in clang bpftool; do
    command -v "$tool" >/dev/null 2>&1 || PATH=$PATH:/usr/sbin:/sbin
    command -v "$tool" >/dev/null 2>&1 || { echo "build_probe: $tool not found (apt-get install clang llvm bpftool libbpf-dev)" >&2; exit 1; }
done
[ -r "$BTF" ] || { echo "build_probe: no kernel BTF at $BTF (kernel built without CONFIG_DEBUG_INFO_BTF)" >&2; exit 1; }
[ -f /usr/include/bpf/bpf_helpers.h ] || { echo "build_probe: libbpf headers missing (apt-get install libbpf-dev)" >&2; exit 1; }

mkdir -p "$OUT"
stamp=$( { sha1sum "$SRC" "$0"; sha1sum "$BTF" 2>/dev/null || stat -c %s "$BTF"; } | sha1sum | cut -c1-16)
if [ -f "$OBJ" ] && [ "$(cat "$OUT/.stamp" 2>/dev/null)" = "$stamp" ]; then
    exit 0
fi

# unique temporary names: concurrent builds (make and a test run) must not mix outputs
tmp=$(mktemp -d "$OUT/.build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
bpftool btf dump file "$BTF" format c > "$tmp/vmlinux.h"
clang -g -O2 -Wall -Wno-unused-function -target bpf -D__TARGET_ARCH_x86 \
    -I "$tmp" -c "$SRC" -o "$tmp/lanner_probe.bpf.o"
llvm-strip -g "$tmp/lanner_probe.bpf.o" 2>/dev/null || true
mv -f "$tmp/vmlinux.h" "$OUT/vmlinux.h"
mv -f "$tmp/lanner_probe.bpf.o" "$OBJ"
echo "$stamp" > "$OUT/.stamp"
echo "build_probe: built $OBJ"
