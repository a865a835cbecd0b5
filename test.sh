#!/usr/bin/env bash
# Set up .venv if needed, then run the fast test suite. Extra arguments go to pytest (`./test.sh -m slow`).
set -euo pipefail
source "$(dirname "$0")/.ci/venv.sh"
exec python -m pytest "$@"
