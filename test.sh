#!/usr/bin/env bash
# Set up .venv if needed, then run the fast test suite: the tests on both cores (pytest -n 2, pyproject.toml), then
# the cluster tests alone (a real SLURM and a PostgreSQL-backed MLflow server: they start daemons and many jobs, so
# they run with the machine to themselves; they skip where they cannot start). Extra arguments run pytest with them
# instead (`./test.sh -m slow`, `./test.sh tests/test_cli.py`, `./test.sh -m cluster`).
set -euo pipefail
source "$(dirname "$0")/.ci/venv.sh"
if [ $# -gt 0 ]; then
  exec python -m pytest "$@"
fi
python -m pytest
exec python -m pytest -m cluster -n 0
