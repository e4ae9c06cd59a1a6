#!/usr/bin/env bash
# make run: build bin/tiercache and serve in the foreground, with a Redis
# for L2 so that the README's examples answer as written.
#
# Redis: when neither TIERCACHE_REDIS_URL nor a -redis flag is given,
# tiercache uses redis://127.0.0.1:RUN_REDIS_PORT (6379). If nothing
# answers there and redis-server is installed, this script starts a private
# one on 127.0.0.1 (--save '' --appendonly no: a cache keeps nothing), its
# pid file and log in RUN_DIR (.run/), and stops it, by that pid, once
# tiercache has exited, however it exits. Without redis-server it says what
# to do and serves without L2 (tiercache reconnects when a Redis appears).
#
# The script ends by exec'ing tiercache, so the pid that `make run` or a
# shell gives you is tiercache's own: SIGTERM or SIGINT to it is a graceful
# shutdown (make passes its SIGTERM on to that pid too).
#
# Environment:
#   RUN_REDIS_PORT  port of the default Redis (6379)
#   RUN_DIR         private redis-server's files (.run)
#   RUN_BIN         a built tiercache to run instead of building bin/tiercache
#   GO              the go command (go)
#   TIERCACHE_*     any tiercache setting (bin/tiercache -h); arguments are
#                   passed on to tiercache
set -euo pipefail
cd "$(dirname "$0")/../.."

GO=${GO:-go}
port=${RUN_REDIS_PORT:-6379}
dir=${RUN_DIR:-.run}

say() { echo "run: $*" >&2; }

bin=${RUN_BIN:-}
if [ -z "$bin" ]; then
  say "building bin/tiercache"
  CGO_ENABLED=0 "$GO" build -trimpath -o bin/tiercache ./cmd/tiercache
  bin=bin/tiercache
fi

# redis_reply PORT prints the first reply line of whatever answers PING on
# 127.0.0.1:PORT ("+PONG", "-NOAUTH …"), or fails when nothing accepts.
redis_reply() {
  timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1 || exit 1; printf 'PING\r\n' >&3; head -n 1 <&3 | tr -d '\r'" 2>/dev/null
}

# alive PID NAME succeeds while process PID runs, is not a zombie, and is
# NAME (so that a pid reused since is never signalled).
alive() {
  [ -r "/proc/$1/stat" ] || return 1
  [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null || echo Z)" != Z ] || return 1
  [ -z "${2:-}" ] || [ "$(cat "/proc/$1/comm" 2>/dev/null)" = "$2" ]
}

redis_flag=""
for a in "$@"; do
  case $a in -redis | --redis | -redis=* | --redis=*) redis_flag=1 ;; esac
done
if [ -n "${TIERCACHE_REDIS_URL:-}" ] || [ -n "$redis_flag" ]; then
  : # the user chose a Redis, or off
elif reply=$(redis_reply "$port"); then
  case $reply in
  +PONG | -NOAUTH* | -WRONGPASS*) say "using the Redis that answers on 127.0.0.1:$port" ;;
  *) say "127.0.0.1:$port answers but not as Redis ($reply); set TIERCACHE_REDIS_URL, or RUN_REDIS_PORT for a private redis-server" ;;
  esac
  export TIERCACHE_REDIS_URL=redis://127.0.0.1:$port
elif command -v redis-server >/dev/null 2>&1; then
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  starter=()
  command -v setsid >/dev/null 2>&1 && starter=(setsid) # Ctrl-C reaches tiercache, not Redis: it stops after tiercache
  "${starter[@]}" redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" \
    --save '' --appendonly no --daemonize no --loglevel warning \
    </dev/null >>"$dir/redis.log" 2>&1 &
  rpid=$!
  echo "$rpid" >"$dir/redis.pid"
  deadline=$((SECONDS + 5))
  until [ "$(redis_reply "$port" || true)" = +PONG ]; do
    if ! alive "$rpid" || [ $SECONDS -ge $deadline ]; then
      alive "$rpid" redis-server && kill -KILL "$rpid" 2>/dev/null
      rm -f "$dir/redis.pid"
      tail -n 5 "$dir/redis.log" >&2 || true
      say "the private redis-server did not start on 127.0.0.1:$port; see $dir/redis.log"
      exit 1
    fi
    sleep 0.05
  done
  say "started a private redis-server on 127.0.0.1:$port (pid $rpid, files in $dir); it stops when tiercache does"
  export TIERCACHE_REDIS_URL=redis://127.0.0.1:$port
  # The watcher outlives this shell: after exec, $$ is tiercache. It
  # ignores the signals meant for tiercache, waits for it to end, then
  # stops Redis by pid (TERM, then KILL after 5 s).
  (
    set +e
    trap '' INT TERM HUP
    while alive $$; do sleep 0.1; done
    if alive "$rpid" redis-server; then
      kill -TERM "$rpid" 2>/dev/null || true
      for _ in $(seq 50); do alive "$rpid" redis-server || break; sleep 0.1; done
      alive "$rpid" redis-server && kill -KILL "$rpid" 2>/dev/null
      say "stopped the private redis-server (pid $rpid)"
    fi
    rm -f "$dir/redis.pid"
  ) </dev/null &
else
  say "no Redis answers on 127.0.0.1:$port and redis-server is not installed: serving without L2, so reads do not answer as the README shows (detail=l2, then detail=l1)"
  say "to get the README's cache hits, install it (Debian: apt-get install redis-server; or make deps) and run make run again, or point TIERCACHE_REDIS_URL at a Redis"
  export TIERCACHE_REDIS_URL=redis://127.0.0.1:$port
fi

exec "$bin" "$@"
