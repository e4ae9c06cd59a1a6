// k6 load test "stampede": many clients reading one user that is updated every 100th request.
// Numbers and thresholds: the "stampede" entry of ../scenarios.json.
//   k6 run stampede.js                          open model (constant arrival rate)
//   k6 run -e MODEL=closed stampede.js          closed model (constant VUs)
//   k6 run -e BASE_URL=http://host:5000 -e RATE=500 -e DURATION=1m stampede.js
import { loadScenario } from './lib/scenarios.js';

const scenario = loadScenario(open('../scenarios.json'), 'stampede');

export const options = scenario.options;

export function setup() {
  return scenario.setup();
}

/** @param {import('./lib/scenarios.js').SetupData} data */
export default function (data) {
  scenario.iteration(data);
}
