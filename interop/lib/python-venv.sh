# Sourced by the Python clients' `run`: makes a venv in the client's folder (installing
# python3-venv first if this machine lacks it) with the client's pinned requirements, and
# sets $python to its interpreter.
python_venv() {
  local dir=$1
  if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq python3-venv >/dev/null 2>&1 \
      || { apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null; }
  fi
  [ -x "$dir/.venv/bin/python" ] || python3 -m venv "$dir/.venv"
  "$dir/.venv/bin/pip" install --quiet --disable-pip-version-check -r "$dir/requirements.txt"
  python="$dir/.venv/bin/python"
}
