# Sourced by tools/*.sh: the Python interpreter the shell scripts run, in this order:
#   1. $PYTHON, when set;
#   2. `python` on the PATH when a virtual or conda environment is active
#      ($VIRTUAL_ENV / $CONDA_PREFIX), i.e. the one `python tools/train.py` would use;
#   3. the repository's .venv/bin/python (what `make install` / `make demo` create);
#   4. `python3`, else `python`, on the PATH.
# Also: OMP_NUM_THREADS set by the user reaches every process; otherwise the tools choose
# the threads themselves (mattebox/engine/threads.py), and torchrun is told 1 only to
# keep it quiet.
_mb_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [ -z "${PYTHON:-}" ]; then
  if [ -n "${VIRTUAL_ENV:-}${CONDA_PREFIX:-}" ] && command -v python >/dev/null 2>&1; then
    PYTHON=python
  elif [ -x "$_mb_dir/.venv/bin/python" ]; then
    PYTHON="$_mb_dir/.venv/bin/python"
  elif command -v python3 >/dev/null 2>&1; then
    PYTHON=python3
  else
    PYTHON=python
  fi
fi
if [ -z "${OMP_NUM_THREADS:-}" ]; then
  export OMP_NUM_THREADS=1 MATTEBOX_OMP_FROM_LAUNCHER=1
fi
# mb_check_python: stop with a clear message when $PYTHON lacks torch or mmengine
mb_check_python() {
  if ! "$PYTHON" -c 'import importlib.util as u, sys
sys.exit(not (u.find_spec("torch") and u.find_spec("mmengine")))' 2>/dev/null; then
    echo "error: $PYTHON cannot import torch and mmengine. Run 'make install' (it creates" \
         ".venv, which these scripts then use), activate the environment you installed" \
         "mattebox into, or set PYTHON=/path/to/python." >&2
    exit 2
  fi
}
