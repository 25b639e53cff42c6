#!/usr/bin/env bash
# The whole test suite on a fresh machine: make a venv, install CPU PyTorch (the local file
# pip finds for torch==2.13.0; an unpinned torch would pull a multi-GB CUDA build), then
# embedframe with its local-model and test extras, and run pytest.
# Usage: bash tests/run.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
PIP=(.venv/bin/python -m pip install -q --disable-pip-version-check)
.venv/bin/python -c "import torch" 2>/dev/null || "${PIP[@]}" torch==2.13.0
"${PIP[@]}" -e '.[local,test]'
exec .venv/bin/python -m pytest -q "$@"
