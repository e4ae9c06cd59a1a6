#!/usr/bin/env bash
# Installs what the tests need: redis-server, PostgreSQL, and npm for the
# k6 scripts' type check. On Debian as
# root (or with sudo) it runs apt-get; anywhere else it stops with a
# one-line hint.
set -euo pipefail

# Debian keeps initdb out of PATH, in /usr/lib/postgresql/VERSION/bin, where
# the tests look for it too (internal/launch).
have_initdb() {
  command -v initdb >/dev/null 2>&1 && return 0
  compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null
}

need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
have_initdb || need+=(postgresql)
command -v npm >/dev/null 2>&1 || need+=(npm)
[ ${#need[@]} -eq 0 ] && exit 0

hint="missing ${need[*]}: install it (Debian/Ubuntu: apt-get install ${need[*]}; macOS: brew install redis postgresql) and run make test again"
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
# a PostgreSQL cluster on :5432; tests use their own on free ports, so these
# are left alone.
command -v redis-server >/dev/null 2>&1 && have_initdb && command -v npm >/dev/null 2>&1 || { echo "$hint" >&2; exit 1; }
