#!/usr/bin/env bash
# What a new user sees in the MLflow UI, checked in a real headless browser (docs/tracking.md).
#
#   scripts/check_ui.sh            # as root where Chromium is missing (it installs Debian's chromium)
#
# Trains 4 iterations into a temporary SQLite store, starts `mlflow ui` on it, and loads in a fresh Chromium profile
# (a browser that never chose a view) the experiment link the run printed, and the same link without its
# workflowType. Passes (exit 0) when the printed link shows the model-training view: the runs table, with the run's
# name, and none of the GenAI view's tabs (Overview, Sessions). Prints what the bare link shows beside it.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-$PWD/.venv/bin/python}"
PORT="${WGAN_UI_PORT:-5077}"
BROWSER="$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)"
if [ -z "$BROWSER" ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "check_ui: no Chromium here; run as root to install Debian's chromium, or install one" >&2
    exit 2
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null
  BROWSER="$(command -v chromium)"
fi
work="$(mktemp -d)"
ui_pid=""
cleanup() { [ -n "$ui_pid" ] && kill "$ui_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

store="sqlite:///$work/mlflow.db"
printed="$(cd "$work" && "$PYTHON" -m wgan_repro train.iterations=4 train.warmup=false eval.every=2 \
  eval.n_samples=200 eval.w1_points=100 eval.figures=false train.progress=false "tracking.uri=$store" \
  "hydra.run.dir=$work/run" 2>&1)"
link="$(printf '%s\n' "$printed" | sed -n 's/^all runs: *//p' | tail -1)"
name="$("$PYTHON" -c "from mlflow.tracking import MlflowClient as C; c = C('$store'); \
print(c.search_runs([c.get_experiment_by_name('wgan_repro').experiment_id])[0].info.run_name)")"
[ -n "$link" ] || { echo "check_ui: the run printed no UI link:"; printf '%s\n' "$printed" | tail -5; exit 1; } >&2
link="${link/127.0.0.1:5000/127.0.0.1:$PORT}"

"$PYTHON" -m mlflow ui --backend-store-uri "$store" --port "$PORT" >"$work/ui.log" 2>&1 &
ui_pid=$!
for _ in $(seq 60); do
  curl -fs -o /dev/null "http://127.0.0.1:$PORT/" && break
  sleep 1
done

view() {  # the view a fresh profile gets at $1: "model training" or "GenAI", from the page's rendered text
  rm -rf "$work/profile"
  timeout 120 "$BROWSER" --headless=new --no-sandbox --disable-gpu --user-data-dir="$work/profile" \
    --virtual-time-budget=20000 --dump-dom "$1" 2>/dev/null | "$PYTHON" -c "
import re, sys
text = re.sub(r'\s+', ' ', re.sub(r'<[^>]+>', ' ', sys.stdin.read()))
genai = any(tab in text for tab in ('Overview', 'Sessions'))
print('model training' if '$name' in text and not genai else 'GenAI' if genai else 'neither (the page did not render)')"
}
shown="$(view "$link")"
bare="$(view "${link%%\?*}")"
echo "the link the run printed: $link"
echo "  a fresh browser shows: the $shown view (run $name in its runs table: $( [ "$shown" = "model training" ] && echo yes || echo no ))"
echo "the same link without ?workflowType: the $bare view"
[ "$shown" = "model training" ]
