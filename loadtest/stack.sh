#!/usr/bin/env bash
# A local stack for the load tests, without Docker: a real redis-server and
# tiercache on loopback, in the background, with their logs and pid files in
# .stack/ at the repository's root.
#
#   loadtest/stack.sh start    build bin/tiercache, start both, wait until /readyz answers 200
#   loadtest/stack.sh stop     stop exactly the processes of the pid files (TERM, then KILL)
#   loadtest/stack.sh status   say what runs; exit 0 when both do, 3 otherwise
#
# `make stack` and `make stack-down` run start and stop. Both are safe to
# repeat: start says so when the stack already runs, stop when it does not.
#
# Environment (read by start; stop and status use what start recorded):
#   STACK_PORT        tiercache's port on 127.0.0.1 (default 5000)
#   STACK_REDIS_PORT  redis-server's port on 127.0.0.1 (default 6390)
#   STACK_PIN=1       run both servers on CPU 0 (taskset -c 0), so that the load
#                     generator has CPU 1 to itself (docs/design.md: "load generator on
#                     its own core"); loadtest/run-all.sh pins loadgen to CPU 1
#   GO                the go command (default go)
#   TIERCACHE_*       any other tiercache setting (tiercache -h)
#
# The store, .stack/data/tiercache.db, survives stop and start; Redis keeps
# nothing (--save '' --appendonly no), so each start begins with a cold L2.
set -euo pipefail
cd "$(dirname "$0")/.."

GO=${GO:-go}
dir=.stack
envfile=$dir/stack.env

die() { echo "stack: $*" >&2; exit 1; }

# pid_of NAME PIDFILE prints the pid in PIDFILE if that process runs and is
# NAME; it fails otherwise, so that a pid the system gave to another process
# since is never signalled.
pid_of() {
  local name=$1 file=$2 pid state
  [ -f "$file" ] || return 1
  pid=$(cat "$file")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  [ -r "/proc/$pid/comm" ] || return 1
  [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$name" ] || return 1
  state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || echo Z)
  [ "$state" != Z ] || return 1
  echo "$pid"
}

# answers PORT succeeds when something accepts connections on 127.0.0.1:PORT.
answers() { timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }

# listener PORT names the process listening on PORT, when ss can tell.
listener() {
  command -v ss >/dev/null 2>&1 || return 0
  ss -ltnpH "sport = :$1" 2>/dev/null | sed -n 's/.*users:((\("[^"]*"\),pid=\([0-9]*\).*/ (\1, pid \2)/p' | head -1
}

redis_pong() {
  local reply
  reply=$(timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1; printf 'PING\r\n' >&3; head -c 5 <&3" 2>/dev/null) || return 1
  [ "$reply" = "+PONG" ]
}

tail_log() {
  echo "--- last lines of $1:" >&2
  tail -n 20 "$1" >&2 || true
}

load_env() {
  PORT=${STACK_PORT:-5000}
  REDIS_PORT=${STACK_REDIS_PORT:-6390}
  PIN=${STACK_PIN:-0}
  if [ -f "$envfile" ]; then
    # shellcheck source=/dev/null
    . "$envfile"
  fi
}

start() {
  local tc rd
  tc=$(pid_of tiercache "$dir/tiercache.pid") || tc=""
  rd=$(pid_of redis-server "$dir/redis.pid") || rd=""
  if [ -n "$tc" ] && [ -n "$rd" ]; then
    load_env
    echo "stack already running: tiercache http://127.0.0.1:$PORT (pid $tc), redis-server 127.0.0.1:$REDIS_PORT (pid $rd)"
    return 0
  fi
  if [ -n "$tc$rd" ]; then
    echo "stack: only part of the stack runs; stopping it to start afresh"
    stop
  fi
  rm -f "$envfile"
  PORT=${STACK_PORT:-5000}
  REDIS_PORT=${STACK_REDIS_PORT:-6390}
  PIN=${STACK_PIN:-0}

  command -v redis-server >/dev/null 2>&1 ||
    die "redis-server not found in PATH; install it (Debian: apt-get install redis-server, or ./internal/scripts/install-deps.sh)"
  for p in "$PORT" "$REDIS_PORT"; do
    if answers "$p"; then
      die "port $p on 127.0.0.1 is taken by another process$(listener "$p"); stop it, or choose other ports with STACK_PORT / STACK_REDIS_PORT"
    fi
  done

  local pin=()
  if [ "$PIN" = 1 ]; then
    if command -v taskset >/dev/null 2>&1; then
      pin=(taskset -c 0)
    else
      echo "stack: STACK_PIN=1 but taskset is missing (Debian: util-linux); not pinning" >&2
      PIN=0
    fi
  fi

  mkdir -p "$dir/data"
  echo "== building bin/tiercache"
  CGO_ENABLED=0 "$GO" build -trimpath -o bin/tiercache ./cmd/tiercache

  echo "== starting redis-server on 127.0.0.1:$REDIS_PORT${pin:+ (CPU 0)}"
  # nohup and taskset exec the server, so $! is the server's pid.
  nohup "${pin[@]}" redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$PWD/$dir" \
    --save '' --appendonly no --daemonize no --loglevel warning \
    </dev/null >>"$dir/redis.log" 2>&1 &
  echo $! >"$dir/redis.pid"
  local deadline=$((SECONDS + 5))
  until redis_pong "$REDIS_PORT" || [ $SECONDS -ge $deadline ]; do
    if ! pid_of redis-server "$dir/redis.pid" >/dev/null; then
      tail_log "$dir/redis.log"
      stop >/dev/null
      die "redis-server exited at start-up"
    fi
    sleep 0.1
  done
  if ! redis_pong "$REDIS_PORT"; then
    tail_log "$dir/redis.log"
    stop >/dev/null
    die "redis-server did not answer PING within 5s"
  fi

  echo "== starting tiercache on 127.0.0.1:$PORT${pin:+ (CPU 0)}"
  TIERCACHE_LISTEN=127.0.0.1:$PORT \
    TIERCACHE_REDIS_URL=redis://127.0.0.1:$REDIS_PORT \
    TIERCACHE_STORE=bolt:$PWD/$dir/data/tiercache.db \
    nohup "${pin[@]}" bin/tiercache </dev/null >>"$dir/tiercache.log" 2>&1 &
  echo $! >"$dir/tiercache.pid"
  printf 'PORT=%s\nREDIS_PORT=%s\nPIN=%s\n' "$PORT" "$REDIS_PORT" "$PIN" >"$envfile"

  local ready=""
  deadline=$((SECONDS + 30))
  while [ $SECONDS -lt $deadline ]; do
    if bin/tiercache healthcheck -url "http://127.0.0.1:$PORT/readyz" -timeout 1s >/dev/null 2>&1; then
      ready=1
      break
    fi
    if ! pid_of tiercache "$dir/tiercache.pid" >/dev/null; then
      tail_log "$dir/tiercache.log"
      stop >/dev/null
      die "tiercache exited at start-up"
    fi
    sleep 0.1
  done
  if [ -z "$ready" ]; then
    tail_log "$dir/tiercache.log"
    stop >/dev/null
    die "tiercache did not answer /readyz with 200 within 30s"
  fi
  if command -v curl >/dev/null 2>&1; then
    local body
    body=$(curl -fsS --max-time 2 "http://127.0.0.1:$PORT/readyz" || true)
    echo "readyz: $body"
    case $body in
    *'"redis":"ok"'*) ;;
    *) echo "stack: warning: tiercache does not report Redis ok; see $dir/tiercache.log" >&2 ;;
    esac
  fi
  echo "stack up: tiercache http://127.0.0.1:$PORT (pid $(cat "$dir/tiercache.pid")), redis-server 127.0.0.1:$REDIS_PORT (pid $(cat "$dir/redis.pid")); logs in $dir/; stop with make stack-down"
}

# stop_one NAME PIDFILE stops the process of PIDFILE, if it is NAME, with
# SIGTERM, then SIGKILL after 15 s, and removes PIDFILE. It prints whether
# there was anything to stop.
stop_one() {
  local name=$1 file=$2 pid i
  [ -f "$file" ] || return 1
  if pid=$(pid_of "$name" "$file"); then
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 150); do
      pid_of "$name" "$file" >/dev/null || break
      sleep 0.1
    done
    if pid_of "$name" "$file" >/dev/null; then
      echo "stack: $name (pid $pid) still runs 15s after SIGTERM; sending SIGKILL" >&2
      kill -KILL "$pid" 2>/dev/null || true
      for i in $(seq 50); do
        pid_of "$name" "$file" >/dev/null || break
        sleep 0.1
      done
    fi
    echo "stopped $name (pid $pid)"
  else
    echo "$name was not running (stale pid file $file)"
  fi
  rm -f "$file"
}

stop() {
  local any=""
  # tiercache first: it finishes its requests and flushes to Redis.
  stop_one tiercache "$dir/tiercache.pid" && any=1
  stop_one redis-server "$dir/redis.pid" && any=1
  rm -f "$envfile"
  [ -n "$any" ] || echo "stack not running"
}

status() {
  load_env
  local tc rd code=0
  if tc=$(pid_of tiercache "$dir/tiercache.pid"); then
    echo "tiercache: running, pid $tc, http://127.0.0.1:$PORT$([ "$PIN" = 1 ] && echo ', CPU 0')"
  else
    echo "tiercache: not running"
    code=3
  fi
  if rd=$(pid_of redis-server "$dir/redis.pid"); then
    echo "redis-server: running, pid $rd, 127.0.0.1:$REDIS_PORT$([ "$PIN" = 1 ] && echo ', CPU 0')"
  else
    echo "redis-server: not running"
    code=3
  fi
  return $code
}

case ${1:-} in
start) start ;;
stop) stop ;;
status) status ;;
*)
  echo "usage: loadtest/stack.sh start|stop|status" >&2
  exit 2
  ;;
esac
