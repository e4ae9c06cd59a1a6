// Pure helpers shared by the k6 scripts: no k6 imports, so they also run
// under plain Node (package.json says "type": "module").
//
// The semantics match the Go load generator that reads the same
// ../../scenarios.json; change both or neither.

/**
 * @typedef {object} UsersConfig
 * @property {string} prefix       seeded user i is prefix + i zero-padded to `digits`
 * @property {number} digits
 * @property {string} email_domain
 * @property {string} new_prefix   prefix of never-used names registered by `target: "new"`
 *
 * @typedef {'zipf' | 'uniform' | 'one'} KeyDist
 *
 * @typedef {object} KeysConfig
 * @property {KeyDist} dist
 * @property {number} n            keys are ranks in [0, n)
 * @property {number} [s]          Zipf exponent (dist "zipf" only)
 *
 * @typedef {'get' | 'register' | 'update' | 'delete'} OpName
 *
 * @typedef {object} OpConfig
 * @property {OpName} op
 * @property {'new' | 'key'} [target]  register only: a never-used name or the chosen key's name
 * @property {number} weight
 * @property {number[]} expect     statuses that are not errors
 *
 * @typedef {object} OpenModel
 * @property {number} rate         iterations (= requests) per second
 * @property {string} duration
 * @property {number} pre_allocated_vus
 * @property {number} max_vus
 *
 * @typedef {object} ClosedModel
 * @property {number} vus
 * @property {string} duration
 *
 * @typedef {object} Thresholds
 * @property {number} p95_ms
 * @property {number} p99_ms
 * @property {number} max_error_rate
 *
 * @typedef {object} ScenarioConfig
 * @property {string} [description]
 * @property {number} seed         users 0..seed-1 are registered in setup()
 * @property {number} [warm_passes] then each is read this many times, pass after pass
 * @property {KeysConfig} keys
 * @property {OpConfig[]} ops
 * @property {OpenModel} open
 * @property {ClosedModel} closed
 * @property {Thresholds} thresholds
 *
 * @typedef {object} Config
 * @property {UsersConfig} users
 * @property {{ [name: string]: ScenarioConfig }} scenarios
 */

/** Characters the service accepts in a username (SPEC: 1-64 of A-Z a-z 0-9 . _ -). */
export const USERNAME_RE = /^[A-Za-z0-9._-]{1,64}$/;

const OPS = ['get', 'register', 'update', 'delete'];
const DISTS = ['zipf', 'uniform', 'one'];

/**
 * @param {boolean} ok
 * @param {string} msg
 * @returns {asserts ok}
 */
function need(ok, msg) {
  if (!ok) throw new Error(`scenarios.json: ${msg}`);
}

/** @param {unknown} v */
function isPosInt(v) {
  return typeof v === 'number' && Number.isInteger(v) && v > 0;
}

/** @param {unknown} v */
function isDuration(v) {
  return typeof v === 'string' && /^(\d+(\.\d+)?(ms|s|m|h))+$/.test(v);
}

/**
 * Seconds in a k6 duration such as "30s", "1m30s" or "500ms".
 * @param {string} d
 */
export function durationSeconds(d) {
  const units = { ms: 0.001, s: 1, m: 60, h: 3600 };
  let total = 0;
  for (const m of d.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)) {
    total += Number(m[1]) * units[/** @type {'ms'|'s'|'m'|'h'} */ (m[2])];
  }
  return total;
}

/**
 * Parses scenarios.json and checks the fields these scripts use, so that a
 * typo in the shared file fails at init with a message instead of producing
 * a silently different load.
 * @param {string} text
 * @returns {Config}
 */
export function parseConfig(text) {
  /** @type {Config} */
  const cfg = JSON.parse(text);
  need(cfg !== null && typeof cfg === 'object', 'not a JSON object');
  const u = cfg.users;
  need(u !== null && typeof u === 'object', 'missing "users"');
  need(typeof u.prefix === 'string', 'users.prefix must be a string');
  need(isPosInt(u.digits), 'users.digits must be a positive integer');
  need(typeof u.email_domain === 'string' && u.email_domain !== '', 'users.email_domain must be a non-empty string');
  need(typeof u.new_prefix === 'string' && USERNAME_RE.test(u.new_prefix), 'users.new_prefix must be a valid username prefix');
  need(USERNAME_RE.test(username(u, 0)), 'users.prefix gives invalid usernames');
  need(cfg.scenarios !== null && typeof cfg.scenarios === 'object', 'missing "scenarios"');
  for (const [name, sc] of Object.entries(cfg.scenarios)) {
    const at = `scenarios["${name}"]`;
    need(Number.isInteger(sc.seed) && sc.seed >= 0, `${at}.seed must be an integer >= 0`);
    need(sc.seed <= 10 ** u.digits, `${at}.seed exceeds what users.digits can number`);
    need(sc.warm_passes === undefined || (Number.isInteger(sc.warm_passes) && sc.warm_passes >= 0 &&
      (sc.warm_passes === 0 || sc.seed > 0)), `${at}.warm_passes must be an integer >= 0, and 0 without seeded users`);
    need(DISTS.includes(sc.keys && sc.keys.dist), `${at}.keys.dist must be one of ${DISTS.join(', ')}`);
    need(isPosInt(sc.keys.n), `${at}.keys.n must be a positive integer`);
    need(sc.keys.n <= 10 ** u.digits, `${at}.keys.n exceeds what users.digits can number`);
    if (sc.keys.dist === 'zipf') {
      need(typeof sc.keys.s === 'number' && sc.keys.s > 0, `${at}.keys.s must be a number > 0 for zipf`);
    }
    need(Array.isArray(sc.ops) && sc.ops.length > 0, `${at}.ops must be a non-empty array`);
    for (const op of sc.ops) {
      need(OPS.includes(op.op), `${at}: unknown op "${op.op}"`);
      need(typeof op.weight === 'number' && op.weight > 0, `${at}: op "${op.op}" needs a weight > 0`);
      need(Array.isArray(op.expect) && op.expect.length > 0 && op.expect.every(isPosInt),
        `${at}: op "${op.op}" needs a non-empty "expect" list of statuses`);
      if (op.op === 'register') {
        need(op.target === 'new' || op.target === 'key', `${at}: register needs target "new" or "key"`);
      }
    }
    need(sc.open && isPosInt(sc.open.rate) && isDuration(sc.open.duration) &&
      isPosInt(sc.open.pre_allocated_vus) && isPosInt(sc.open.max_vus),
      `${at}.open needs rate, duration, pre_allocated_vus and max_vus`);
    need(sc.closed && isPosInt(sc.closed.vus) && isDuration(sc.closed.duration),
      `${at}.closed needs vus and duration`);
    const t = sc.thresholds;
    need(t && t.p95_ms > 0 && t.p99_ms > 0 && t.max_error_rate >= 0 && t.max_error_rate <= 1,
      `${at}.thresholds needs p95_ms, p99_ms and max_error_rate`);
  }
  return cfg;
}

/**
 * Username of seeded user i: prefix + i zero-padded to `digits` (u000042).
 * @param {UsersConfig} users
 * @param {number} i
 */
export function username(users, i) {
  return users.prefix + String(i).padStart(users.digits, '0');
}

/**
 * @param {UsersConfig} users
 * @param {string} name
 */
export function email(users, name) {
  return `${name}@${users.email_domain}`;
}

/**
 * The email a PUT sets: <username>+<counter>@<email_domain>.
 * @param {UsersConfig} users
 * @param {string} name
 * @param {number | string} counter
 */
export function updatedEmail(users, name, counter) {
  return `${name}+${counter}@${users.email_domain}`;
}

/**
 * A name that no earlier request used: new_prefix-runTag-vu-iter.
 * @param {UsersConfig} users
 * @param {string} runTag  differs between runs, same for every VU of one run
 * @param {number} vu
 * @param {number} iter
 */
export function newUsername(users, runTag, vu, iter) {
  const name = `${users.new_prefix}-${runTag}-${vu}-${iter}`;
  if (!USERNAME_RE.test(name)) throw new Error(`generated an invalid username "${name}"`);
  return name;
}

/**
 * A run tag: base-36 time plus randomness, [a-z0-9], 12 characters.
 * @param {number} nowMs
 * @param {() => number} random
 */
export function makeRunTag(nowMs, random) {
  let tag = Math.floor(nowMs).toString(36).slice(-8);
  for (let i = 0; i < 4; i++) tag += Math.floor(random() * 36).toString(36);
  return tag;
}

/**
 * CDF of the Zipf distribution over ranks [0, n): P(k) ∝ 1/(k+1)^s.
 * cdf[k] = P(rank <= k); cdf[n-1] is exactly 1.
 * @param {number} n
 * @param {number} s
 */
export function zipfCDF(n, s) {
  const cdf = new Float64Array(n);
  let sum = 0;
  for (let k = 0; k < n; k++) {
    sum += 1 / Math.pow(k + 1, s);
    cdf[k] = sum;
  }
  for (let k = 0; k < n; k++) cdf[k] /= sum;
  cdf[n - 1] = 1;
  return cdf;
}

/**
 * The smallest k with u < cdf[k], for u in [0, 1).
 * @param {Float64Array} cdf
 * @param {number} u
 */
export function searchCDF(cdf, u) {
  let lo = 0;
  let hi = cdf.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (u < cdf[mid]) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/**
 * A key sampler for scenarios.json's `keys`: returns a rank in [0, n).
 * Builds the Zipf table once (call it from k6 init code: once per VU).
 * @param {KeysConfig} keys
 * @param {() => number} random  a draw in [0, 1), e.g. Math.random
 * @returns {() => number}
 */
export function keySampler(keys, random) {
  switch (keys.dist) {
    case 'zipf': {
      const cdf = zipfCDF(keys.n, /** @type {number} */ (keys.s));
      return () => searchCDF(cdf, random());
    }
    case 'uniform': {
      const n = keys.n;
      return () => Math.floor(random() * n);
    }
    case 'one':
      return () => 0;
    default:
      throw new Error(`unknown key distribution "${keys.dist}"`);
  }
}

/**
 * Picks an op by weight.
 * @template {{ weight: number }} T
 * @param {T[]} ops
 * @param {() => number} random
 * @returns {() => T}
 */
export function opPicker(ops, random) {
  /** @type {number[]} */
  const cum = [];
  let total = 0;
  for (const op of ops) {
    total += op.weight;
    cum.push(total);
  }
  const last = ops.length - 1;
  return () => {
    const x = random() * total;
    for (let i = 0; i < last; i++) if (x < cum[i]) return ops[i];
    return ops[last];
  };
}

/**
 * @typedef {object} CacheStatus
 * @property {boolean} hit
 * @property {'l1' | 'l2' | 'hit' | 'miss'} tier  'hit' = a hit without an l1/l2 detail
 */

/**
 * Reads the tiercache entry of an RFC 9211 Cache-Status header:
 * "tiercache; hit; detail=l1" → {hit, l1}; "tiercache; fwd=miss; stored" →
 * {miss}. Returns null when there is no tiercache entry.
 * @param {string | undefined} header
 * @returns {CacheStatus | null}
 */
export function parseCacheStatus(header) {
  if (!header) return null;
  for (const entry of header.split(',')) {
    const parts = entry.split(';').map((p) => p.trim());
    if (parts[0] !== 'tiercache') continue;
    let hit = false;
    let fwd = false;
    let detail = '';
    for (const p of parts.slice(1)) {
      const eq = p.indexOf('=');
      const key = (eq < 0 ? p : p.slice(0, eq)).trim().toLowerCase();
      const val = eq < 0 ? '' : p.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1').toLowerCase();
      if (key === 'hit') hit = true;
      else if (key === 'fwd') fwd = true;
      else if (key === 'detail') detail = val;
    }
    if (hit) return { hit: true, tier: detail === 'l1' || detail === 'l2' ? detail : 'hit' };
    if (fwd) return { hit: false, tier: 'miss' };
    return null;
  }
  return null;
}
