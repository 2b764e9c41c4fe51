#!/usr/bin/env bash
# Create or update the project's virtual environment, then run a job in it.
#   ./run.sh train [args]   MA2ML search (examples/train_ma2ml.py) on the default embedded benchmark
#   ./run.sh test [args]    the test suite (pytest arguments pass through)
# Each job installs only its profile of extras: train = the search and real training, test = every
# extra (interop libraries included, so their tests run) and the dev tools. Paths given to train
# (--out, --data-root) are relative to where you run the command.
set -euo pipefail
repo="$(cd "$(dirname "$0")" && pwd)"
venv="${AUTOML_ENV_VENV:-$repo/.venv}"

ensure_venv() {
    local profile="$1" superset="$2"
    [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
    # Reinstall only when pyproject.toml changed since this profile's (or a superset's) last install.
    local hash
    hash="$(sha256sum "$repo/pyproject.toml" | cut -c1-16)"
    if [ -f "$venv/.installed-$profile-$hash" ] || [ -f "$venv/.installed-$superset-$hash" ]; then
        return
    fi
    echo "run.sh: installing automl-env[$profile] into $venv (first time: minutes; see README, Set-up)" >&2
    "$venv/bin/python" -m pip install --quiet --upgrade pip
    "$venv/bin/python" -m pip install --quiet -e "$repo[$profile]"
    rm -f "$venv/.installed-$profile-"*
    touch "$venv/.installed-$profile-$hash"
}

case "${1:-}" in
    train) shift; ensure_venv "train,agents" "all,dev"; exec "$venv/bin/python" "$repo/examples/train_ma2ml.py" "$@" ;;
    test) shift; ensure_venv "all,dev" "all,dev"; cd "$repo"; exec "$venv/bin/python" -m pytest "$@" ;;
    *) echo "usage: ./run.sh train|test [args]" >&2; exit 2 ;;
esac
