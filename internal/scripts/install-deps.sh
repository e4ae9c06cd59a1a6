#!/usr/bin/env bash
# Installs what the tests and benchmarks need: redis-server, PostgreSQL, npm
# for the k6 scripts' type check, and nginx, Varnish, wrk and Flask (the
# origin of loadbench -origin flask) for the caching proxy comparison. On
# Debian as root (or with sudo) it runs apt-get; anywhere else it stops
# with a one-line hint.
set -euo pipefail

# Debian keeps initdb out of PATH, in /usr/lib/postgresql/VERSION/bin, where
# the tests look for it too (internal/launch).
have_initdb() {
  command -v initdb >/dev/null 2>&1 && return 0
  compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null
}

# nginx and varnishd are in /usr/sbin, which a non-root PATH on Debian
# leaves out; internal/launch looks there too.
have_sbin() {
  command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]
}

# loadbench runs the Flask origin with the python3 in PATH, or else
# Debian's, where python3-flask installs Flask.
have_flask() {
  local py
  for py in python3 /usr/bin/python3; do
    command -v "$py" >/dev/null 2>&1 && "$py" -c 'import flask' >/dev/null 2>&1 && return 0
  done
  return 1
}

need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
have_initdb || need+=(postgresql)
command -v npm >/dev/null 2>&1 || need+=(npm)
have_sbin nginx || need+=(nginx-light)
have_sbin varnishd || need+=(varnish)
command -v wrk >/dev/null 2>&1 || need+=(wrk)
have_flask || need+=(python3-flask)
[ ${#need[@]} -eq 0 ] && exit 0

hint="missing ${need[*]}: install it (Debian/Ubuntu: apt-get install ${need[*]}; macOS: brew install redis postgresql nginx varnish wrk, pip3 install flask) and run make test again"
if ! command -v apt-get >/dev/null 2>&1; then
  echo "$hint" >&2; exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo="sudo -n"; else echo "$hint" >&2; exit 1; fi
fi
echo "== installing ${need[*]} with apt-get"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
# The Debian packages start a system redis on :6379 and, where services run,
# a PostgreSQL cluster on :5432, nginx on :80 and varnishd on :6081; tests and
# benchmarks use their own on free ports, so these are left alone.
for bin in redis-server npm wrk; do
  command -v "$bin" >/dev/null 2>&1 || { echo "$hint" >&2; exit 1; }
done
have_initdb && have_sbin nginx && have_sbin varnishd && have_flask || { echo "$hint" >&2; exit 1; }
