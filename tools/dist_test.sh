#!/usr/bin/env bash
# Test on NPROC processes: bash tools/dist_test.sh CONFIG CKPT NPROC [test.py args]
set -euo pipefail
if [ $# -lt 3 ]; then
  echo "usage: bash tools/dist_test.sh CONFIG CKPT NPROC [test.py options]" >&2; exit 2
fi
CONFIG=$1
CHECKPOINT=$2
NPROC=$3
shift 3
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
MASTER_ADDR=${MASTER_ADDR:-127.0.0.1}
DIR=$(cd "$(dirname "$0")/.." && pwd)
source "$DIR/tools/python.sh"  # PYTHON: $PYTHON, an active venv, ./.venv, python3
mb_check_python
PORT_ARGS=()
if [ -n "${PORT:-}" ] || [ "$NNODES" -gt 1 ]; then
  PORT_ARGS=(--master_addr="$MASTER_ADDR" --master_port="${PORT:-29500}")
fi
PYTHONPATH="$DIR:${PYTHONPATH:-}" \
"$PYTHON" -m torch.distributed.run --nnodes="$NNODES" --node_rank="$NODE_RANK" \
  --nproc_per_node="$NPROC" "${PORT_ARGS[@]}" \
  "$DIR/tools/test.py" "$CONFIG" "$CHECKPOINT" --launcher pytorch "$@"
