// k6 load test "read-heavy": 95% GET of seeded users by Zipf rank, 5% registrations of new users.
// Numbers and thresholds: the "read-heavy" entry of ../scenarios.json.
//   k6 run read-heavy.js                          open model (constant arrival rate)
//   k6 run -e MODEL=closed read-heavy.js          closed model (constant VUs)
//   k6 run -e BASE_URL=http://host:5000 -e RATE=500 -e DURATION=1m read-heavy.js
import { loadScenario } from './lib/scenarios.js';

const scenario = loadScenario(open('../scenarios.json'), 'read-heavy');

export const options = scenario.options;

export function setup() {
  return scenario.setup();
}

/** @param {import('./lib/scenarios.js').SetupData} data */
export default function (data) {
  scenario.iteration(data);
}
