#!/usr/bin/env bash
# The benchmark suite: `make bench` runs `bench/run.sh`, `make bench-full`
# runs `bench/run.sh full`. It writes bench/results/:
#
#   raw.txt              the output of every `go test -bench` run, for benchstat
#   env.txt              date, commit, Go version, CPU, cores, the commands, wall time
#   redis-benchmark.txt  redis-benchmark -t get against a fresh redis-server on
#                        loopback: the same-run baseline of the L2 paths
#   gains.json           loadbench -mode gains: the user service on PostgreSQL
#   proxy.json           loadbench: the proxies in front of the Go origin
#   proxy-flask.json     loadbench -origin flask: the same in front of Flask
#
# and, with `full`, also (each with its .md table):
#
#   instances.json, proxy-staleness.json, loadtest/   loadbench -mode instances,
#                        -mode staleness, -mode scenarios (the Go load generator)
#
# and BENCHMARKS.md at the root, with its charts in bench/charts/, from
# bench/cmd/report. `make bench` takes about 15 minutes on 2 cores; `full`
# uses 6 repetitions instead of 3 for the go benchmarks, BenchmarkConfigs
# with 1M users too, and the three extra load runs.
#
# Repetitions and times can be overridden, e.g. PATHS_COUNT=3 ./bench/run.sh:
#   PATHS_COUNT/PATHS_TIME      BenchmarkCore, BenchmarkHandler, BenchmarkHTTP
#   CONFIGS_COUNT/CONFIGS_TIME  BenchmarkConfigs (a fixed number of reads per run)
#   HITRATIO_COUNT/HITRATIO_TIME  BenchmarkHitRatio (100k users, 6 L1 sizes, both libraries)
#   WRITES_COUNT/WRITES_TIME    BenchmarkRegister, BenchmarkWrite
#   MEMORY_COUNT                BenchmarkL1Memory (one fill of each tier per run)
#   TRACKING_COUNT/TRACKING_TIME  BenchmarkTracking
#   LOAD_DURATION/LOAD_ROUNDS   each loadbench run's wrk time and rounds (4s, 3)
set -euo pipefail
cd "$(dirname "$0")/.."

GO=${GO:-go}
full=0
case "${1:-}" in
  "") ;;
  full) full=1 ;;
  *) echo "usage: bench/run.sh [full]" >&2; exit 2 ;;
esac
reps=3
[ "$full" -eq 1 ] && reps=6
PATHS_COUNT=${PATHS_COUNT:-$reps}
PATHS_TIME=${PATHS_TIME:-0.5s}
CONFIGS_COUNT=${CONFIGS_COUNT:-$reps}
CONFIGS_TIME=${CONFIGS_TIME:-100000x}
HITRATIO_COUNT=${HITRATIO_COUNT:-2}
HITRATIO_TIME=${HITRATIO_TIME:-30000x}
WRITES_COUNT=${WRITES_COUNT:-$reps}
WRITES_TIME=${WRITES_TIME:-1s}
MEMORY_COUNT=${MEMORY_COUNT:-2}
TRACKING_COUNT=${TRACKING_COUNT:-2}
TRACKING_TIME=${TRACKING_TIME:-1s}
LOAD_DURATION=${LOAD_DURATION:-4s}
LOAD_ROUNDS=${LOAD_ROUNDS:-3}
# make bench: the libraries side by side at 100k users only (the rows
# BENCHMARKS.md compares); full: every set of tiers at 100k and 1M users.
configs='^BenchmarkConfigs$/^users=100k$/./^tiers=(L1\+L2|otter\+L2)$'
[ "$full" -eq 1 ] && configs='^BenchmarkConfigs$'

out=bench/results
raw=$out/raw.txt
env=$out/env.txt
mkdir -p "$out"
: >"$raw"

# bbolt's fsync must reach a disk: on a tmpfs it costs nothing.
tmp=${TMPDIR:-/tmp}
if [ "$(stat -f -c %T "$tmp")" = tmpfs ]; then
  echo "bench: $tmp is a tmpfs, where fsync costs nothing; set TMPDIR to a directory on disk" >&2
  exit 1
fi

commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
# Changes to the code measured, not to this run's own outputs.
if [ -n "$(git status --porcelain --untracked-files=no -- . ':!bench/results' ':!bench/charts' ':!BENCHMARKS.md' 2>/dev/null)" ]; then
  commit="$commit (with uncommitted changes)"
fi
{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "commit: $commit"
  echo "go: $($GO version)"
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
  echo "cores: $(nproc)"
  echo "kernel: $(uname -sr)"
  echo "redis: $(redis-server --version 2>/dev/null || echo 'not installed')"
  echo "tmpdir: $tmp ($(stat -f -c %T "$tmp"))"
} >"$env"

start=$SECONDS

# bench runs one `go test -bench` and appends its output to raw.txt. A
# failed run does not stop the others; the script fails at the end.
failed=0
bench() {
  # bench/ is a module of its own (bench/go.mod): -C bench runs the test there.
  local cmd=("$GO" test -C bench -run '^$' -timeout 30m -benchmem "$@" .)
  echo "command: ${cmd[*]}" >>"$env"
  echo "== ${cmd[*]}"
  "${cmd[@]}" | tee -a "$raw" || failed=1
}

bench -bench '^Benchmark(Core|Handler|HTTP)$' -count "$PATHS_COUNT" -benchtime "$PATHS_TIME"
bench -bench "$configs" -count "$CONFIGS_COUNT" -benchtime "$CONFIGS_TIME"
bench -bench '^BenchmarkHitRatio$' -count "$HITRATIO_COUNT" -benchtime "$HITRATIO_TIME"
bench -bench '^Benchmark(Register|Write)$' -count "$WRITES_COUNT" -benchtime "$WRITES_TIME"
bench -bench '^BenchmarkL1Memory$' -count "$MEMORY_COUNT" -benchtime 1x
bench -bench '^BenchmarkTracking$' -count "$TRACKING_COUNT" -benchtime "$TRACKING_TIME"

# The baseline of the L2 paths: GETs of an 80-byte value (a user's size in
# Redis) on 1 connection (rueidis' count), on 1 connection with 32 in flight
# (32 goroutines pipelined), and on 32 connections.
rb=$out/redis-benchmark.txt
if command -v redis-benchmark >/dev/null 2>&1; then
  dir=$(mktemp -d)
  port=
  for _ in $(seq 50); do
    p=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then port=$p; break; fi
  done
  redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" --save '' --appendonly no \
    --daemonize no --loglevel warning >"$dir/redis.log" 2>&1 &
  pid=$!
  trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -rf "$dir"' EXIT
  for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
  {
    echo "# redis-benchmark -t get -d 80 -n 200000, against redis-server on 127.0.0.1:$port"
    for args in "-c 1" "-c 1 -P 32" "-c 32"; do
      # shellcheck disable=SC2086 # args are words on purpose
      echo "$args,$(redis-benchmark -h 127.0.0.1 -p "$port" -t get -d 80 -n 200000 $args --csv | tail -1)"
    done
  } | tee "$rb"
  echo "command: redis-benchmark -h 127.0.0.1 -p PORT -t get -d 80 -n 200000 {-c 1, -c 1 -P 32, -c 32} --csv" >>"$env"
else
  echo "redis-benchmark not installed (Debian: apt-get install redis-tools): no baseline for the L2 paths" | tee "$rb"
fi

# The load runs: loadbench, built once, wrk on CPU 1 against the target on
# CPU 0 (see bench/cmd/loadbench). A failed run does not stop the others.
"$GO" build -C bench -trimpath -o "$PWD/bin/loadbench" ./cmd/loadbench
load() {
  echo "command: loadbench $*" >>"$env"
  echo "== loadbench $*"
  bin/loadbench "$@" || failed=1
}
load -mode gains -rounds "$LOAD_ROUNDS" -duration "$LOAD_DURATION"
load -rounds "$LOAD_ROUNDS" -duration "$LOAD_DURATION"
load -origin flask -rounds "$LOAD_ROUNDS" -duration "$LOAD_DURATION"
if [ "$full" -eq 1 ]; then
  load -mode instances -rounds "$LOAD_ROUNDS" -duration "$LOAD_DURATION"
  load -mode staleness
  # Exit 1 is a scenario's threshold missed: a result, which the table shows.
  echo "command: loadbench -mode scenarios" >>"$env"
  echo "== loadbench -mode scenarios"
  bin/loadbench -mode scenarios || [ $? -eq 1 ] || failed=1
fi

echo "wall: $((SECONDS - start))s" >>"$env"

# go test does not always exit non-zero when a repetition of a sub-benchmark
# fails, so look for the failures in the output too.
if [ "$failed" -ne 0 ] || grep -q -e '--- FAIL' -e '^FAIL' "$raw"; then
  failed=1
  echo "failed: yes" >>"$env"
fi

# The tables: BENCHMARKS.md at the root, regenerated from the raw results.
# report is built in the bench module and run from the root, as its defaults expect.
"$GO" build -C bench -o "$PWD/bin/report" ./cmd/report
bin/report -results "$out" -o BENCHMARKS.md
echo "== bench/results written in $((SECONDS - start))s"

if [ "$failed" -ne 0 ]; then
  echo "bench: some benchmarks failed; their numbers are not to be published:" >&2
  grep -A3 -e '--- FAIL' "$raw" >&2 || true
  exit 1
fi
