// How long the demo lab takes to come up and to go down (as root: `npm run bench lab-up`).
import { Lab } from "../src/lab/lab.js";
import { DEMO_TOPOLOGY_FILE, loadTopology } from "../src/lab/topology.js";
import { processCounter } from "../src/effects/exec.js";

const RUNS = 5;

export async function run(): Promise<void> {
  const topology = loadTopology(DEMO_TOPOLOGY_FILE);
  const up: number[] = [];
  const down: number[] = [];
  let processes = 0;
  for (let i = 0; i < RUNS; i++) {
    const before = processCounter.started;
    const t0 = performance.now();
    const lab = await Lab.up(topology);
    up.push(performance.now() - t0);
    processes = processCounter.started - before;
    const t1 = performance.now();
    await lab.down();
    down.push(performance.now() - t1);
  }
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
  process.stdout.write(
    `demo lab up: median ${median(up).toFixed(0)} ms, max ${Math.max(...up).toFixed(0)} ms, ` +
      `${processes} processes; down: median ${median(down).toFixed(0)} ms (${RUNS} runs)\n`,
  );
}
