# Sourced by scripts/test and scripts/demo: makes sure .venv is a Python 3.12 venv holding this
# checkout (`pip install -e '.[test]'`, redone only when pyproject.toml changes).
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
print(hashlib.sha256(pathlib.Path("pyproject.toml").read_bytes()).hexdigest(), sys.version.split()[0])') $PWD"
  if [[ ! -f $stamp || "$(cat "$stamp")" != "$want" ]]; then
    .venv/bin/python -m pip install --quiet --editable '.[test]'
    printf '%s\n' "$want" >"$stamp"
  fi
}

