#!/usr/bin/env bash
# The main job on the embedded demo: synthesise the demo cohort if absent, then build the dataset from it.
set -euo pipefail
cd "$(dirname "$0")/.."

cohort="${ECHOGROUND_DEMO_COHORT:-demo/cohort}"
run_dir="${ECHOGROUND_DEMO_RUN:-demo/run}"
eg=.venv/bin/echoground

if [ ! -f "$cohort/mimic-iv-echo/echo-record-list.csv" ]; then
  "$eg" synth --out "$cohort"
fi

# The view classifier is trained from the cohort's ground-truth views, as a credentialed user would
# train it from ECHOVIEW labels. With a trained model, pass --view-model DIR instead.
"$eg" build \
  --echo-root "$cohort/mimic-iv-echo" \
  --note-root "$cohort/mimic-iv-note" \
  --hosp-root "$cohort/mimic-iv/hosp" \
  --view-labels "$cohort/ground_truth/dicoms.csv" \
  --out "$run_dir"
# The caption-quality audit: a self-contained HTML page for reviewers.
"$eg" audit "$run_dir"
echo "demo: outputs in $run_dir (summary: $run_dir/summary.json, audit: $run_dir/audit/report.html)"
