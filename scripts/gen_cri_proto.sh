#!/usr/bin/env bash
# Regenerate the Python protobuf module of the CRI subset Lanner reads.
# Needs grpcio-tools (pip install grpcio-tools); the output is checked in.
set -euo pipefail
cd "$(dirname "$0")/../src/lanner/sources/syscall/containers/cri"
"${PYTHON:-../../../../../../.venv/bin/python}" -m grpc_tools.protoc -I. --python_out=. runtime_v1.proto
echo "regenerated runtime_v1_pb2.py"
