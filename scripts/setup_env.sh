#!/usr/bin/env bash
# Create (or refresh) .venv from the exact pins in requirements.txt.
# Skipped when .venv already matches the pins, so repeated runs cost nothing.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv="$root/.venv"
stamp="$venv/.mbcrt-pins"
want=$(cat "$root/requirements.txt" "$root/pyproject.toml" | sha256sum | cut -d' ' -f1)
if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi

py=""
for cand in "${PYTHON:-}" python3.11 python3; do
  [ -n "$cand" ] || continue
  if command -v "$cand" >/dev/null 2>&1 &&
     "$cand" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
    py=$cand; break
  fi
done
if [ -z "$py" ]; then
  echo "mbcrt setup: Python 3.11 is required (set PYTHON=/path/to/python3.11)." >&2
  exit 2
fi

echo "mbcrt setup: creating .venv from requirements.txt (first run only, a few minutes)..." >&2
"$py" -m venv --clear "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$root/requirements.txt"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps -e "$root"
echo "$want" > "$stamp"
echo "mbcrt setup: .venv ready." >&2
