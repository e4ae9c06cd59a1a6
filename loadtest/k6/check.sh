#!/usr/bin/env bash
# Type-checks the k6 scripts against @types/k6 (k6 itself is not needed), then
# proves that the check has teeth: a copy of a script with wrong k6 API calls
# must be rejected, with an error on every wrong line.
set -euo pipefail
cd "$(dirname "$0")"

fail() { echo "loadtest/k6/check.sh: $*" >&2; exit 1; }

command -v npm >/dev/null 2>&1 || fail "npm not found: install Node.js and npm (Debian: apt-get install npm), or run make deps"

# The committed lockfile records no download addresses (.npmrc:
# omit-lockfile-registry-resolved=true); keep it that way.
if grep -q '"resolved"' package-lock.json || grep -q '://' package-lock.json; then
  fail "package-lock.json records download addresses; regenerate it here with: rm -rf node_modules package-lock.json && npm install"
fi

npm ci --no-audit --no-fund --loglevel=error >/dev/null || fail "npm ci failed"

tsc() { npx --no -- tsc "$@"; }

tsc -p . || fail "type check of the k6 scripts failed (errors above)"

# Negative self-test. The file matches the "*.js" include of tsconfig.json.
neg="negative-selftest.$$.js"
trap 'rm -f "$neg"' EXIT
trap 'exit 130' INT TERM HUP
{
  cat mixed.js
  cat <<'JS'

// ---- deliberately wrong k6 API use: every line marked NEG must be rejected
import http from 'k6/http';
import { check } from 'k6';
import { Counter } from 'k6/metrics';

/** @type {import('k6/options').Options} */
export const wrongOptions = {
  scenarios: {
    a: { executor: 'constant-arrival-rate', rate: 1, duration: '1s', preAllocatedVU: 1 }, // NEG misspelled property
    b: { executor: 'constant-arival-rate', rate: 1, duration: '1s', preAllocatedVUs: 1 }, // NEG misspelled executor
  },
  thresholds: { http_req_failed: 'rate<0.01' }, // NEG thresholds are arrays
};

export function wrongCalls() {
  const res = http.gett('http://127.0.0.1:5000/'); // NEG no such function
  check(res, 5); // NEG checks are an object of functions
  http.post('http://127.0.0.1:5000/register', '{}', { responseCallback: 5 }); // NEG not a callback
  http.get('http://127.0.0.1:5000/', { responseCallback: http.expectedStatuses('200') }); // NEG statuses are numbers
  new Counter('c').add('1'); // NEG add takes a number
  http.batch(5); // NEG batch takes an array or object
  return __VU.length; // NEG __VU is a number
}
JS
} >"$neg"

set +e
out=$(tsc -p . 2>&1)
rc=$?
set -e
[ "$rc" -ne 0 ] || fail "negative self-test: tsc accepted wrong k6 API calls in $neg"
lines=$(grep -n '// NEG' "$neg" | cut -d: -f1)
total=0
caught=0
for l in $lines; do
  total=$((total + 1))
  if grep -q "^$neg($l," <<<"$out"; then
    caught=$((caught + 1))
  else
    echo "not rejected: $neg line $l: $(sed -n "${l}p" "$neg")" >&2
  fi
done
if grep -v "^$neg(" <<<"$out" | grep -q 'error TS'; then
  echo "$out" >&2
  fail "negative self-test: errors outside $neg (above)"
fi
[ "$caught" -eq "$total" ] || { echo "$out" >&2; fail "negative self-test: only $caught of $total wrong calls rejected"; }

nfiles=$(ls ./*.js lib/*.js | grep -vc "$neg")
echo "k6 scripts: $nfiles files type-check ($(tsc -v | sed "s/^Version /TypeScript /"), @types/k6 $(node -p "require('./node_modules/@types/k6/package.json').version")); negative self-test: $caught/$total wrong k6 calls rejected"
