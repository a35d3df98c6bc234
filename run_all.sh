#!/usr/bin/env bash
# Set up .venv (skipped when it matches the pins) and run every bundled study end to end.
#   ./run_all.sh                       all bundled studies
#   ./run_all.sh --study gbsg2         one study
#   ./run_all.sh --config my/study.yaml --set matching.caliper=0.1
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup_env.sh
exec .venv/bin/python -m mbcrt run "$@"
