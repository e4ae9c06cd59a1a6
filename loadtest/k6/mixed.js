// k6 load test "mixed": GET, register, update and delete on uniformly chosen users.
// Numbers and thresholds: the "mixed" entry of ../scenarios.json.
//   k6 run mixed.js                          open model (constant arrival rate)
//   k6 run -e MODEL=closed mixed.js          closed model (constant VUs)
//   k6 run -e BASE_URL=http://host:5000 -e RATE=500 -e DURATION=1m mixed.js
import { loadScenario } from './lib/scenarios.js';

const scenario = loadScenario(open('../scenarios.json'), 'mixed');

export const options = scenario.options;

export function setup() {
  return scenario.setup();
}

/** @param {import('./lib/scenarios.js').SetupData} data */
export default function (data) {
  scenario.iteration(data);
}
