#!/usr/bin/env bash
# Create .venv and install the project with pinned dependencies; a no-op when nothing changed.
#
# Order matters: torch first from the pinned pairing (an unpinned torch pulls a multi-GB CUDA build),
# then the project against constraints.txt, then medspacy without its spacy<3.8 pin (see pyproject.toml).
set -euo pipefail
cd "$(dirname "$0")/.."

python_bin="${PYTHON:-python3.11}"
venv=".venv"
stamp_key=$(cat pyproject.toml constraints.txt scripts/bootstrap.sh | sha256sum | cut -c1-16)
stamp="$venv/.installed-$stamp_key"

if [ -f "$stamp" ]; then
  exit 0
fi

if ! command -v "$python_bin" >/dev/null; then
  echo "bootstrap: $python_bin not found; install Python 3.11 or set PYTHON=/path/to/python3.11" >&2
  exit 1
fi

echo "bootstrap: installing into $venv (first run takes about 3 minutes)" >&2
"$python_bin" -m venv "$venv"
pip=("$venv/bin/python" -m pip --disable-pip-version-check)
"${pip[@]}" install --quiet --upgrade "pip>=24"
"${pip[@]}" install --quiet -c constraints.txt torch==2.14.1 torchvision==0.29.1
"${pip[@]}" install --progress-bar off -c constraints.txt -e ".[dev]"
"${pip[@]}" install --quiet --no-deps -c constraints.txt medspacy==1.3.1 medspacy_quickumls==3.2
rm -f "$venv"/.installed-*
touch "$stamp"
echo "bootstrap: done" >&2
