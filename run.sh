#!/usr/bin/env bash
# Set up .venv if needed, then train: `./run.sh [hydra overrides]`, e.g. `./run.sh arch=mlp objective=gan`.
# With no overrides: WGAN, MLP generator and critic, 8 Gaussians, CPU, logged to sqlite:///mlflow.db.
set -euo pipefail
source "$(dirname "$0")/.ci/venv.sh"
exec python -m wgan_repro "$@"
