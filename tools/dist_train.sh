#!/usr/bin/env bash
# Train on NPROC processes of this machine: bash tools/dist_train.sh CONFIG NPROC [train.py args]
# Uses NCCL with GPUs and gloo on CPU-only machines (tools/train.py picks it).
set -euo pipefail
if [ $# -lt 2 ]; then
  echo "usage: bash tools/dist_train.sh CONFIG NPROC [train.py options]" >&2; exit 2
fi
CONFIG=$1
NPROC=$2
shift 2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
MASTER_ADDR=${MASTER_ADDR:-127.0.0.1}
DIR=$(cd "$(dirname "$0")/.." && pwd)
source "$DIR/tools/python.sh"  # PYTHON: $PYTHON, an active venv, ./.venv, python3
mb_check_python
PORT_ARGS=()
# torchrun picks a free port itself on one node; name one only for several nodes.
if [ -n "${PORT:-}" ] || [ "$NNODES" -gt 1 ]; then
  PORT_ARGS=(--master_addr="$MASTER_ADDR" --master_port="${PORT:-29500}")
fi
PYTHONPATH="$DIR:${PYTHONPATH:-}" \
"$PYTHON" -m torch.distributed.run --nnodes="$NNODES" --node_rank="$NODE_RANK" \
  --nproc_per_node="$NPROC" "${PORT_ARGS[@]}" \
  "$DIR/tools/train.py" "$CONFIG" --launcher pytorch "$@"
