#!/usr/bin/env bash
# The main job on the embedded demo: synthesise the demo cohort if absent, then run the pipeline on it.
set -euo pipefail
cd "$(dirname "$0")/.."

cohort="${ECHOGROUND_DEMO_COHORT:-demo/cohort}"
run_dir="${ECHOGROUND_DEMO_RUN:-demo/run}"
eg=.venv/bin/echoground

if [ ! -f "$cohort/mimic-iv-echo/echo-record-list.csv" ]; then
  "$eg" synth --out "$cohort"
fi

"$eg" build \
  --echo-root "$cohort/mimic-iv-echo" \
  --note-root "$cohort/mimic-iv-note" \
  --hosp-root "$cohort/mimic-iv/hosp" \
  --out "$run_dir"
echo "demo: outputs in $run_dir (summary: $run_dir/summary.json)"
