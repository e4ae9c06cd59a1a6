// k6 load test "register-burst": registrations of new users only.
// Numbers and thresholds: the "register-burst" entry of ../scenarios.json.
//   k6 run register-burst.js                          open model (constant arrival rate)
//   k6 run -e MODEL=closed register-burst.js          closed model (constant VUs)
//   k6 run -e BASE_URL=http://host:5000 -e RATE=500 -e DURATION=1m register-burst.js
import { loadScenario } from './lib/scenarios.js';

const scenario = loadScenario(open('../scenarios.json'), 'register-burst');

export const options = scenario.options;

export function setup() {
  return scenario.setup();
}

/** @param {import('./lib/scenarios.js').SetupData} data */
export default function (data) {
  scenario.iteration(data);
}
