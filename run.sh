#!/usr/bin/env bash
# Create or update the project's virtual environment, then run a job in it.
#   ./run.sh train [args]   MA2ML search (examples/train_ma2ml.py) on the default embedded benchmark
#   ./run.sh test [args]    the test suite (pytest arguments pass through)
set -euo pipefail
cd "$(dirname "$0")"
venv="${AUTOML_ENV_VENV:-.venv}"

ensure_venv() {
    [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
    # Reinstall only when pyproject.toml changed since the last successful install.
    local stamp="$venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)"
    if [ ! -f "$stamp" ]; then
        "$venv/bin/python" -m pip install --quiet --upgrade pip
        "$venv/bin/python" -m pip install --quiet -e ".[all,dev]"
        rm -f "$venv"/.installed-*
        touch "$stamp"
    fi
}

case "${1:-}" in
    train) shift; ensure_venv; exec "$venv/bin/python" examples/train_ma2ml.py "$@" ;;
    test) shift; ensure_venv; exec "$venv/bin/python" -m pytest "$@" ;;
    *) echo "usage: ./run.sh train|test [args]" >&2; exit 2 ;;
esac
