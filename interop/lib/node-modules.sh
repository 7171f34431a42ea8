# Sourced by the Node clients' `run`: installs node and npm if this machine lacks them and
# runs `npm ci` in the client's folder whenever node_modules is missing or was installed
# from another package-lock.json.
node_modules() {
  local dir=$1 need=()
  command -v node >/dev/null 2>&1 || need+=(nodejs)
  command -v npm >/dev/null 2>&1 || need+=(npm)
  if [ ${#need[@]} -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq "${need[@]}" >/dev/null 2>&1 \
      || { apt-get update -qq >/dev/null && apt-get install -y -qq "${need[@]}" >/dev/null; }
  fi
  local stamp="$dir/node_modules/.interop-lock.sha256" want
  want=$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    (cd "$dir" && npm ci --silent --no-audit --no-fund >&2)
    echo "$want" >"$stamp"
  fi
}
