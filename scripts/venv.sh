# Sourced by scripts/test and scripts/demo: makes sure .venv is a Python 3.12 venv holding
# exactly the versions in requirements.lock (checked against its hashes) and this checkout
# (`pip install --no-deps -e .`); redone only when pyproject.toml or requirements.lock changes.
# The lock is made from pyproject.toml with uv (the command is at the top of the file).
is_python312() {
  "$1" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' >/dev/null 2>&1
}

ensure_venv() {
  if ! is_python312 .venv/bin/python; then
    local python=""
    for candidate in python python3.12; do
      if command -v "$candidate" >/dev/null && is_python312 "$candidate"; then
        python=$candidate
        break
      fi
    done
    if [[ -z $python ]]; then
      echo "scripts/test: Python 3.12 not found (see .python-version): pyenv install 3.12" >&2
      exit 1
    fi
    # A venv from another machine or Python version only has dangling links: start over.
    [[ -e .venv ]] && echo "scripts/test: .venv is not a working Python 3.12 venv; recreating it" >&2
    rm -rf .venv
    "$python" -m venv .venv
  fi
  local stamp=.venv/.mio-install-stamp want
  want="$(.venv/bin/python -c 'import hashlib, pathlib, sys
digest = lambda name: hashlib.sha256(pathlib.Path(name).read_bytes()).hexdigest()
print(digest("pyproject.toml"), digest("requirements.lock"), sys.version.split()[0])') $PWD"
  if [[ ! -f $stamp || "$(cat "$stamp")" != "$want" ]]; then
    .venv/bin/python -m pip install --quiet --require-hashes -r requirements.lock
    .venv/bin/python -m pip install --quiet --no-deps --editable .
    if ! .venv/bin/python -m pip check >/dev/null; then
      .venv/bin/python -m pip check >&2 || true
      echo "scripts/test: requirements.lock does not satisfy pyproject.toml; regenerate it with" \
        "the command at its top" >&2
      exit 1
    fi
    printf '%s\n' "$want" >"$stamp"
  fi
}
