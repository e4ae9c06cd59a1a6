// Shared k6 code for the tiercache load tests. Every number comes from
// loadtest/scenarios.json, which the entry scripts open() and hand in here;
// the Go load generator reads the same file with the same semantics.
//
// Environment (k6 -e NAME=value, or the process environment):
//   BASE_URL  target, default http://127.0.0.1:5000
//   MODEL     open (constant-arrival-rate, default) or closed (constant-vus)
//   RATE      open model: iterations per second (one request per iteration)
//   VUS       closed model: VUs; open model: pre-allocated VUs
//   DURATION  e.g. 30s, 2m

import http from 'k6/http';
import { check, fail } from 'k6';
import exec from 'k6/execution';
import { Counter, Rate } from 'k6/metrics';
import {
  parseConfig, username, email, updatedEmail, newUsername, makeRunTag, durationSeconds,
  keySampler, opPicker, parseCacheStatus,
} from './core.js';

/**
 * @typedef {import('./core.js').Config} Config
 * @typedef {import('./core.js').ScenarioConfig} ScenarioConfig
 * @typedef {import('./core.js').OpConfig} OpConfig
 * @typedef {import('k6/options').Options} Options
 * @typedef {import('k6/options').Scenario} Scenario
 * @typedef {import('k6/http').Params} Params
 * @typedef {import('k6/http').ObjectBatchRequest} ObjectBatchRequest
 *
 * @typedef {object} SetupData
 * @property {string} runTag  part of every new username of this run
 */

/** Registrations per http.batch call while seeding. */
const SEED_CHUNK = 200;
/** Per-request timeout, as loadgen's: a request that takes longer fails. */
const REQUEST_TIMEOUT = '5s';
/** Concurrent requests within one seeding batch (options.batch / batchPerHost). */
const SEED_PARALLEL = 64;

// Custom metrics must be created in init code. Only GETs feed them.
const cacheHit = new Rate('cache_hit');
const cacheL1 = new Counter('cache_l1');
const cacheL2 = new Counter('cache_l2');
const cacheMiss = new Counter('cache_miss');
const cacheUnknown = new Counter('cache_status_missing');

/**
 * @param {string} name
 * @param {number} fallback
 */
function intEnv(name, fallback) {
  const raw = __ENV[name];
  if (raw === undefined || raw === '') return fallback;
  const v = Number(raw);
  if (!Number.isInteger(v) || v <= 0) throw new Error(`${name}=${raw}: want a positive integer`);
  return v;
}

/**
 * @param {string} name
 * @param {string} fallback
 */
function strEnv(name, fallback) {
  const raw = __ENV[name];
  return raw === undefined || raw === '' ? fallback : raw;
}

/**
 * k6 options for one scenario of scenarios.json under the model chosen by
 * MODEL, with RATE / VUS / DURATION overrides.
 * @param {string} name
 * @param {ScenarioConfig} sc
 * @returns {Options}
 */
export function buildOptions(name, sc) {
  const model = strEnv('MODEL', 'open');
  /** @type {Scenario} */
  let scenario;
  if (model === 'open') {
    const pre = intEnv('VUS', sc.open.pre_allocated_vus);
    scenario = {
      executor: 'constant-arrival-rate',
      rate: intEnv('RATE', sc.open.rate),
      timeUnit: '1s',
      duration: strEnv('DURATION', sc.open.duration),
      preAllocatedVUs: pre,
      maxVUs: Math.max(pre, sc.open.max_vus),
      tags: { model },
    };
  } else if (model === 'closed') {
    scenario = {
      executor: 'constant-vus',
      vus: intEnv('VUS', sc.closed.vus),
      duration: strEnv('DURATION', sc.closed.duration),
      tags: { model },
    };
  } else {
    throw new Error(`MODEL=${model}: want "open" or "closed"`);
  }
  const t = sc.thresholds;
  /** @type {{ [metric: string]: string[] }} */
  const dropped = {};
  if (scenario.executor === 'constant-arrival-rate') {
    // As loadgen's dropped_rate: iterations that found no free VU, at most
    // max_error_rate of those due.
    const due = scenario.rate * durationSeconds(scenario.duration);
    dropped.dropped_iterations = [`count<=${Math.floor(t.max_error_rate * due)}`];
  }
  return {
    scenarios: { [name]: scenario },
    // Only the load counts: setup()'s seeding requests are tagged phase=seed.
    thresholds: {
      ...dropped,
      // <=, as loadgen compares: a limit of 0 errors must be reachable.
      'http_req_duration{phase:load}': [`p(95)<=${t.p95_ms}`, `p(99)<=${t.p99_ms}`],
      'http_req_failed{phase:load}': [`rate<=${t.max_error_rate}`],
    },
    summaryTrendStats: ['avg', 'min', 'med', 'max', 'p(90)', 'p(95)', 'p(99)'],
    setupTimeout: '10m',
    batch: SEED_PARALLEL,
    batchPerHost: SEED_PARALLEL,
  };
}

/**
 * Loads scenario `name` from the text of scenarios.json. Call it from init
 * code: the key sampler (the Zipf table) is built once per VU.
 * @param {string} configText  open('../scenarios.json') in the entry script
 * @param {string} name        a key of scenarios.json's "scenarios"
 */
export function loadScenario(configText, name) {
  const cfg = parseConfig(configText);
  const sc = cfg.scenarios[name];
  if (!sc) {
    throw new Error(`scenarios.json has no scenario "${name}" (has: ${Object.keys(cfg.scenarios).join(', ')})`);
  }
  const users = cfg.users;
  const base = strEnv('BASE_URL', 'http://127.0.0.1:5000').replace(/\/+$/, '');
  const nextKey = keySampler(sc.keys, Math.random);
  const nextOp = opPicker(sc.ops, Math.random);
  // A VU's own tag, used only when setup() was skipped (k6 run --no-setup).
  const vuTag = makeRunTag(Date.now(), Math.random);

  const json = { 'Content-Type': 'application/json' };

  /**
   * Request parameters of one op: the `name` tag folds the per-user URLs
   * into one time series; responseCallback makes http_req_failed count
   * exactly the statuses outside `expect`.
   * @param {OpConfig} op
   * @param {string} urlName
   * @returns {Params}
   */
  function paramsFor(op, urlName) {
    return {
      headers: op.op === 'register' || op.op === 'update' ? json : {},
      tags: { op: op.op, phase: 'load', name: urlName },
      responseCallback: http.expectedStatuses(...op.expect),
      timeout: REQUEST_TIMEOUT,
    };
  }
  const urlNames = {
    get: 'GET /user/{username}',
    register: 'POST /register',
    update: 'PUT /user/{username}',
    delete: 'DELETE /user/{username}',
  };
  /** @type {Map<OpConfig, Params>} */
  const params = new Map(sc.ops.map((op) => [op, paramsFor(op, urlNames[op.op])]));

  /**
   * @param {OpConfig} op
   * @param {import('k6/http').RefinedResponse<any>} res
   */
  function checkStatus(op, res) {
    const ok = op.expect.includes(res.status);
    check(res, { [`${op.op}: status in [${op.expect.join(',')}]`]: () => ok }, { op: op.op });
    return ok;
  }

  /** @param {string} name */
  function userURL(name) {
    return `${base}/user/${encodeURIComponent(name)}`;
  }

  /**
   * @param {OpConfig} op
   * @param {string} name
   */
  function get(op, name) {
    const res = http.get(userURL(name), params.get(op));
    checkStatus(op, res);
    if (res.status === 200) {
      check(res, { 'get: body names the user': (r) => r.json('data.username') === name }, { op: 'get' });
    }
    const cs = parseCacheStatus(res.headers['Cache-Status']);
    if (cs === null) {
      cacheUnknown.add(1);
      return;
    }
    cacheHit.add(cs.hit);
    if (cs.tier === 'l1') cacheL1.add(1);
    else if (cs.tier === 'l2') cacheL2.add(1);
    else if (cs.tier === 'miss') cacheMiss.add(1);
  }

  /**
   * @param {OpConfig} op
   * @param {string} name
   */
  function register(op, name) {
    const body = JSON.stringify({ username: name, email: email(users, name) });
    checkStatus(op, http.post(`${base}/register`, body, params.get(op)));
  }

  /**
   * @param {OpConfig} op
   * @param {string} name
   */
  function update(op, name) {
    const body = JSON.stringify({ email: updatedEmail(users, name, exec.scenario.iterationInTest) });
    checkStatus(op, http.put(userURL(name), body, params.get(op)));
  }

  /**
   * @param {OpConfig} op
   * @param {string} name
   */
  function del(op, name) {
    checkStatus(op, http.del(userURL(name), null, params.get(op)));
  }

  /**
   * Sends one request per seeded user, SEED_CHUNK at a time, and fails the
   * setup on a status outside `want`.
   * @param {string} what                      for the failure message
   * @param {(u: string) => ObjectBatchRequest} request
   * @param {number[]} want
   */
  function overSeeded(what, request, want) {
    for (let start = 0; start < sc.seed; start += SEED_CHUNK) {
      const end = Math.min(start + SEED_CHUNK, sc.seed);
      /** @type {ObjectBatchRequest[]} */
      const reqs = [];
      for (let i = start; i < end; i++) reqs.push(request(username(users, i)));
      const responses = http.batch(reqs);
      for (let j = 0; j < responses.length; j++) {
        const r = responses[j];
        if (!want.includes(r.status)) {
          const why = r.status === 0 ? r.error : `HTTP ${r.status} ${String(r.body).slice(0, 200)}`;
          fail(`setup: ${what} ${name} failed at user ${start + j} of ${sc.seed} ` +
            `(${reqs[j].method} ${reqs[j].url}): ${why}`);
        }
      }
    }
  }

  /**
   * setup(): register users 0..seed-1 (201 and 409 both mean "exists now",
   * so re-runs are idempotent), read each of them warm_passes times, one
   * pass after the other, so that the load starts with warm caches, and
   * pick the run tag for new names.
   * @returns {SetupData}
   */
  function setup() {
    /** @type {Params} */
    const seedParams = {
      headers: json,
      tags: { op: 'seed', phase: 'seed', name: 'POST /register' },
      responseCallback: http.expectedStatuses(201, 409),
      timeout: REQUEST_TIMEOUT,
    };
    overSeeded('seeding', (u) => ({
      method: 'POST',
      url: `${base}/register`,
      body: JSON.stringify({ username: u, email: email(users, u) }),
      params: seedParams,
    }), [201, 409]);
    /** @type {Params} */
    const warmParams = {
      tags: { op: 'warm', phase: 'seed', name: 'GET /user/{username}' },
      responseCallback: http.expectedStatuses(200),
      timeout: REQUEST_TIMEOUT,
    };
    for (let pass = 1; pass <= (sc.warm_passes || 0); pass++) {
      overSeeded(`warm pass ${pass} of`, (u) => ({ method: 'GET', url: userURL(u), params: warmParams }), [200]);
    }
    return { runTag: makeRunTag(Date.now(), Math.random) };
  }

  /**
   * One iteration = one request, so the open model's rate is requests/s.
   * @param {SetupData | undefined} data
   */
  function iteration(data) {
    const op = nextOp();
    switch (op.op) {
      case 'get':
        get(op, username(users, nextKey()));
        break;
      case 'register':
        register(op, op.target === 'new'
          ? newUsername(users, data && data.runTag ? data.runTag : vuTag, __VU, __ITER)
          : username(users, nextKey()));
        break;
      case 'update':
        update(op, username(users, nextKey()));
        break;
      case 'delete':
        del(op, username(users, nextKey()));
        break;
    }
  }

  return { options: buildOptions(name, sc), setup, iteration };
}
