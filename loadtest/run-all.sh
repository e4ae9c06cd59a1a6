#!/usr/bin/env bash
# Every scenario of loadtest/scenarios.json, in the open and the closed
# model, first against tiercache (the local stack of loadtest/stack.sh),
# then against the bare ceiling server (loadtest/cmd/bare) in the same run.
# `make loadtest-all` runs it. It writes bench/results/loadtest/:
#
#   <scenario>-<model>.json        loadgen's summary against tiercache (label tiercache)
#   bare-<scenario>-<model>.json   the same against bare (label bare)
#
# prints a table of both side by side, and regenerates BENCHMARKS.md (its
# "Load tests" section) when bench/results holds a benchmark run. In the
# open model both get the same arrival rate, so their requests/s match by
# design and only latency tells them apart; the closed model's requests/s
# is the ceiling comparison (docs/design.md: tiercache >= 0.9x bare's
# requests/s, same run).
#
# The summaries go to a fresh directory, bench/results/.loadtest.XXXXXX,
# whose files replace those of bench/results/loadtest, all of them, only at
# the end of a complete run, thresholds failed or not: a failed threshold
# is a result. A run that could not be carried out (loadgen exit 2) or
# Ctrl-C leaves bench/results/loadtest and BENCHMARKS.md as they were, so
# that they never mix summaries of different runs or hold a cut-short one.
# Ctrl-C stops the whole script at once (loadgen exits 130 on it), and the
# script stops what it started.
#
# Exit status: 0 every run met its thresholds, 1 one did not, 2 a run or
# the set-up could not be carried out, 130 interrupted.
#
# When the stack is not running, the script starts it (STACK_PIN=$PIN) and
# stops it at the end; a stack that already runs is used as it is.
#
# Environment:
#   DURATION       measured phase of each run (default 10s: 16 runs, about 4 minutes in all)
#   PIN            1 (default): servers on CPU 0, loadgen on CPU 1 with taskset,
#                  when taskset exists and there are at least 2 CPUs; 0: no pinning
#   BARE_PORT      bare's port on 127.0.0.1 (default 5099)
#   LOADGEN_FLAGS  more flags for every loadgen run
#   GO             the go command (default go)
set -euo pipefail
cd "$(dirname "$0")/.."
# Bash stops on Ctrl-C by itself only when the foreground child died of
# SIGINT; this makes it stop, through the EXIT trap's cleanup, whatever it
# was doing. loadgen catches SIGINT and exits 130: load() stops on that.
trap 'exit 130' INT TERM

GO=${GO:-go}
DURATION=${DURATION:-10s}
PIN=${PIN:-1}
BARE_PORT=${BARE_PORT:-5099}
LOADGEN_FLAGS=${LOADGEN_FLAGS:-}
out=bench/results/loadtest
dir=.stack
mkdir -p bench/results "$dir"

if [ "$PIN" = 1 ] && { ! command -v taskset >/dev/null 2>&1 || [ "$(nproc --all)" -lt 2 ]; }; then
  echo "run-all: taskset missing or fewer than 2 CPUs; not pinning" >&2
  PIN=0
fi
server_pin=() loadgen_pin=()
if [ "$PIN" = 1 ]; then
  server_pin=(taskset -c 0)
  loadgen_pin=(taskset -c 1)
fi

echo "== building bin/loadgen and bin/bare"
# Built in the loadtest module (loadtest/go.mod), into bin/ at the root.
CGO_ENABLED=0 "$GO" build -C loadtest -trimpath -o "$PWD/bin/loadgen" ./cmd/loadgen
CGO_ENABLED=0 "$GO" build -C loadtest -trimpath -o "$PWD/bin/bare" ./cmd/bare
# Not mapfile < <(bin/loadgen -list): a process substitution's failure
# goes unnoticed, and the script would run no scenario and exit 0.
if ! list=$(bin/loadgen -list); then
  echo "run-all: bin/loadgen -list failed" >&2
  exit 2
fi
mapfile -t scenarios < <(printf '%s\n' "$list" | awk 'NF { print $1 }')
if [ ${#scenarios[@]} -eq 0 ]; then
  echo "run-all: bin/loadgen -list lists no scenario" >&2
  exit 2
fi

started_stack=""
bare_pid=""
tmp=""
cleanup() {
  # A second Ctrl-C must not cut the cleanup short and leave servers running.
  trap '' INT TERM
  if [ -n "$tmp" ]; then
    rm -rf "$tmp"
    echo "run-all: incomplete run; $out and BENCHMARKS.md left as they were" >&2
  fi
  if [ -n "$bare_pid" ] && [ "$(cat "/proc/$bare_pid/comm" 2>/dev/null)" = bare ]; then
    kill -TERM "$bare_pid" 2>/dev/null || true
    wait "$bare_pid" 2>/dev/null || true
  fi
  rm -f "$dir/bare.pid"
  if [ -n "$started_stack" ]; then
    loadtest/stack.sh stop
  fi
}
trap cleanup EXIT

if ! loadtest/stack.sh status >/dev/null; then
  # Set first: a start cut short by Ctrl-C may leave a server up; stop
  # copes with what is not there.
  started_stack=1
  STACK_PIN=$PIN loadtest/stack.sh start
else
  loadtest/stack.sh status
fi
# The running stack's settings, as loadtest/stack.sh start recorded them.
stack_port=$(sed -n 's/^PORT=//p' "$dir/stack.env")
stack_pin=$(sed -n 's/^PIN=//p' "$dir/stack.env")
if [ "$PIN" = 1 ] && [ "$stack_pin" != 1 ]; then
  echo "run-all: warning: the running stack is not pinned to CPU 0 (make stack-down, then STACK_PIN=1 make stack); bare will be" >&2
fi

# The summaries of this run; they replace $out at the end of a complete run.
tmp=$(mktemp -d bench/results/.loadtest.XXXXXX)

failed=()  # runs with a failed threshold: a result all the same
broken=()  # runs that could not be carried out: no result
# load LABEL TARGET FILE-PREFIX [FLAGS...] runs every scenario in both models.
load() {
  local label=$1 target=$2 prefix=$3
  shift 3
  local s m code
  for s in "${scenarios[@]}"; do
    for m in open closed; do
      echo
      echo "== $label: $s, $m model, $DURATION"
      code=0
      # shellcheck disable=SC2086
      "${loadgen_pin[@]}" bin/loadgen -target "$target" -scenario "$s" -model "$m" -duration "$DURATION" \
        -label "$label" -json "$tmp/$prefix$s-$m.json" "$@" $LOADGEN_FLAGS || code=$?
      case $code in
      0) ;;
      1) failed+=("$label $s $m: a threshold failed") ;;
      130) exit 130 ;; # interrupted: loadgen caught the Ctrl-C that bash did not act on
      *) broken+=("$label $s $m: could not run (exit $code)") ;;
      esac
    done
  done
}

load tiercache "http://127.0.0.1:$stack_port" ""

if timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$BARE_PORT" 2>/dev/null; then
  echo "run-all: port $BARE_PORT on 127.0.0.1 is taken; set BARE_PORT" >&2
  exit 2
fi
echo
echo "== starting bare on 127.0.0.1:$BARE_PORT${server_pin:+ (CPU 0)}"
"${server_pin[@]}" bin/bare -listen "127.0.0.1:$BARE_PORT" </dev/null >>"$dir/bare.log" 2>&1 &
bare_pid=$!
echo "$bare_pid" >"$dir/bare.pid"
bare_up=""
for _ in $(seq 50); do
  if timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$BARE_PORT" 2>/dev/null; then
    bare_up=1
    break
  fi
  sleep 0.1
done
if [ -z "$bare_up" ]; then
  echo "run-all: bare did not answer on 127.0.0.1:$BARE_PORT within 5s; see $dir/bare.log:" >&2
  tail -n 20 "$dir/bare.log" >&2 || true
  exit 2
fi
# bare registers anything, so seeding it would only cost time.
load bare "http://127.0.0.1:$BARE_PORT" bare- -no-seed

kill -TERM "$bare_pid"
wait "$bare_pid" || true
bare_pid=""
rm -f "$dir/bare.pid"

# field FILE KEY prints a top-level number of a summary (MarshalIndent: one
# key per line), or a latency percentile with KEY latency_ms.p99.
field() {
  local file=$1 key=$2
  [ -f "$file" ] || { echo "-"; return; }
  case $key in
  latency_ms.*) sed -n '/"latency_ms"/,/}/p' "$file" | sed -n "s/^ *\"${key#latency_ms.}\": \([0-9.e+-]*\),\{0,1\}$/\1/p" | head -1 ;;
  *) sed -n "s/^  \"$key\": \([0-9.e+-]*\),\{0,1\}$/\1/p" "$file" | head -1 ;;
  esac
}

echo
echo "== tiercache and bare, same run (DURATION $DURATION, PIN $PIN)"
printf '%-16s %-7s %12s %12s %7s %10s %10s %9s\n' scenario model "req/s" "bare req/s" ratio "p99 ms" "bare p99" "hit ratio"
for s in "${scenarios[@]}"; do
  for m in open closed; do
    t=$tmp/$s-$m.json b=$tmp/bare-$s-$m.json
    tr=$(field "$t" rps) br=$(field "$b" rps)
    ratio=$(awk -v a="$tr" -v b="$br" 'BEGIN { if (b + 0 > 0 && a != "-") printf "%.2f", a / b; else print "-" }')
    hr=""
    # Not sed … 2>/dev/null alone: a missing file (a run that could not be
    # carried out) fails the pipeline, and set -e would end the script here.
    if [ -f "$t" ]; then
      hr=$(sed -n '/"cache"/,/}/p' "$t" | sed -n 's/^ *"hit_ratio": \([0-9.]*\)$/\1/p')
    fi
    printf '%-16s %-7s %12s %12s %7s %10s %10s %9s\n' "$s" "$m" "$tr" "$br" "$ratio" \
      "$(field "$t" latency_ms.p99)" "$(field "$b" latency_ms.p99)" "${hr:--}"
  done
done

if [ ${#broken[@]} -gt 0 ]; then
  echo
  printf 'run-all: %s\n' "${broken[@]}" "${failed[@]}" >&2
  exit 2 # the EXIT trap removes $tmp and says $out was left as it was
fi

# The run is complete: its summaries replace the old set as a whole. No
# signal in between, which would leave half of each.
trap '' INT TERM
mkdir -p "$out"
rm -f "$out"/*.json
mv "$tmp"/*.json "$out"/
rmdir "$tmp"
tmp=""
trap 'exit 130' INT TERM
echo "summaries in $out/"

# BENCHMARKS.md's "Load tests" section comes from these summaries.
if [ -f bench/results/raw.txt ]; then
  "$GO" build -C bench -o "$PWD/bin/report" ./cmd/report
  bin/report -results bench/results -o BENCHMARKS.md
  echo "BENCHMARKS.md regenerated"
fi

if [ ${#failed[@]} -gt 0 ]; then
  echo
  printf 'run-all: %s\n' "${failed[@]}" >&2
  exit 1
fi
