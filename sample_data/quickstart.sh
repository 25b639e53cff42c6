#!/usr/bin/env bash
# One command on a fresh machine: make .venv (if missing), install CPU PyTorch and
# embedframe with the local model, then embed and search the sample reviews.
#   bash sample_data/quickstart.sh [OUTPUT.parquet]     (works from any directory)
# CPU torch is installed first and pinned: an unpinned torch pulls a multi-GB CUDA build.
# Set PYTHON to choose the interpreter that creates the venv (Python 3.11+).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
PIP=(.venv/bin/python -m pip install -q --disable-pip-version-check)
.venv/bin/python -c "import torch" 2>/dev/null || "${PIP[@]}" torch==2.13.0
"${PIP[@]}" -e '.[local]'
exec .venv/bin/python sample_data/quickstart.py "$@"
