// k6 load test "read-only": GETs only of seeded users by Zipf rank (the L1 hit path once warm).
// Numbers and thresholds: the "read-only" entry of ../scenarios.json.
//   k6 run read-only.js                          open model (constant arrival rate)
//   k6 run -e MODEL=closed read-only.js          closed model (constant VUs)
//   k6 run -e BASE_URL=http://host:5000 -e RATE=500 -e DURATION=1m read-only.js
import { loadScenario } from './lib/scenarios.js';

const scenario = loadScenario(open('../scenarios.json'), 'read-only');

export const options = scenario.options;

export function setup() {
  return scenario.setup();
}

/** @param {import('./lib/scenarios.js').SetupData} data */
export default function (data) {
  scenario.iteration(data);
}
