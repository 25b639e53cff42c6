#!/usr/bin/env bash
# Make .venv-infinity: the Infinity embedding server (infinity-emb from PyPI) in a venv of its
# own, for tests/addons/test_infinity.py. Usage: bash tests/infinity/setup.sh
# Idempotent: a venv that already runs `infinity_emb --help` is kept.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-python3}
VENV=.venv-infinity
if [ -x "$VENV/bin/infinity_emb" ] && "$VENV/bin/infinity_emb" --help >/dev/null 2>&1; then
    exit 0
fi
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip install -q --disable-pip-version-check)
"$VENV/bin/python" -c "import torch" 2>/dev/null || "${PIP[@]}" torch==2.13.0
"${PIP[@]}" -r tests/infinity/requirements.txt
"$VENV/bin/infinity_emb" --help >/dev/null
