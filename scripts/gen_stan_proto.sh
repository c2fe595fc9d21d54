#!/usr/bin/env bash
# Regenerate the Python protobuf module of the NATS Streaming messages the STAN output uses.
# Needs grpcio-tools (pip install grpcio-tools); the output is checked in.
set -euo pipefail
cd "$(dirname "$0")/../src/lanner/services/sidekick/stan"
"${PYTHON:-../../../../../.venv/bin/python}" -m grpc_tools.protoc -I. --python_out=. protocol.proto
echo "regenerated protocol_pb2.py"
