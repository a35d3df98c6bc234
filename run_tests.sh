#!/usr/bin/env bash
# Set up .venv (skipped when it matches the pins) and run the test suite.
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup_env.sh
exec .venv/bin/python -m pytest "$@"
