// Benchmark (not a test): how long the demo lab takes to come up and to go down.
// Run as root: npx tsx bench/lab-up.ts [runs]
import { Lab } from "../src/lab/lab.js";
import { DEMO_TOPOLOGY_FILE, loadTopology } from "../src/lab/topology.js";
import { processCounter } from "../src/util/exec.js";

const runs = Number(process.argv[2] ?? 5);
const topology = loadTopology(DEMO_TOPOLOGY_FILE);
const up: number[] = [];
const down: number[] = [];
let processes = 0;
for (let i = 0; i < runs; i++) {
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
console.log(
  JSON.stringify({
    bench: "lab-up (demo topology)",
    runs,
    upMedianMs: Math.round(median(up)),
    upMaxMs: Math.round(Math.max(...up)),
    downMedianMs: Math.round(median(down)),
    processesPerUp: processes,
  }),
);
