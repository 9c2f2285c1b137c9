// Planning time (compute + diff + order) for large kernels: `npm run bench plan`.
// Two workloads per size:
//  compute: a node with n foreign routes in main and m foreign rules, 8 uplinks: computeDesired scans
//           the observed state (gateway discovery), then plan() diffs and orders.
//  churn:   n owned routes and m owned rules, of which 10% change, 5% go and 5% appear: diff + order
//           over big owned states.
//  +check:  compute with every invariant checked after every prefix of the plan, on the model kernel.
// No kernel is touched: states are plain data.
import os from "node:os";
import { performance } from "node:perf_hooks";
import { canonicalState } from "../src/kinds/registry.js";
import { emptyState, type KernelState, type Ownership, type Route, type Rule } from "../src/kinds/types.js";
import { computeDesired, schemeSysctls } from "../src/core/plan/desired.js";
import { plan } from "../src/core/plan/order.js";
import { defaultRules } from "../src/core/model-kernel/kernel.js";
import { genericDestinations } from "../src/core/invariants.js";
import { modelCheck } from "../src/core/reconcile.js";
import type { SelectionParams, UplinkSpec } from "../src/core/selection/types.js";

const PROTO = 99;
const params: SelectionParams = {
  strategy: "failover",
  weights: { latency: 300, loss: 200, success: 500 },
  maxRttMs: 200,
  maxLossPct: 10,
  classBias: { ethernet: 100, wifi: 80, lte: 60, "usb-tether": 40, "bt-pan": 40, other: 0 },
  biasMultiplier: 1,
  switchMargin: 50,
  failThreshold: 500,
  recoverThreshold: 600,
  whenNoneUsable: "keep-last",
};
const routing = { protocol: PROTO, tables: { min: 100, max: 1199 }, priorities: { min: 1000, max: 2999 } };

/** The i-th /32 inside 100.64.0.0/10. */
const host = (i: number): string => `100.${65 + ((i >> 16) & 31)}.${(i >> 8) & 255}.${i & 255}/32`;

const uplinks: UplinkSpec[] = Array.from({ length: 8 }, (_, i) => ({
  name: `up${i}`,
  iface: `up${i}`,
  class: "ethernet",
  use: "normal",
  gateway: "auto",
  metered: false,
}));

function own(): Ownership {
  return {
    protocol: PROTO,
    tables: routing.tables,
    priorities: routing.priorities,
    qosInterfaces: [],
    nftTable: { family: "inet", name: "backhaul" },
    sysctls: schemeSysctls(uplinks),
    uplinkInterfaces: uplinks.map((u) => u.iface),
    addresses: [],
  };
}

function computeNode(n: number, m: number): KernelState {
  const route: Route[] = [];
  const rule: Rule[] = [];
  uplinks.forEach((u, i) => {
    route.push({
      kind: "route",
      family: 4,
      table: 254,
      type: "unicast",
      dst: "0.0.0.0/0",
      metric: 100 + i,
      protocol: 16,
      scope: "global",
      gateway: `100.64.${i}.1`,
      dev: u.iface,
    });
  });
  for (let i = 0; i < n; i++)
    route.push({
      kind: "route",
      family: 4,
      table: 254,
      type: "unicast",
      dst: host(i),
      metric: 0,
      protocol: 4,
      scope: "global",
      gateway: `100.64.${i % 8}.1`,
      dev: `up${i % 8}`,
    });
  for (let i = 0; i < m; i++)
    rule.push({
      kind: "rule",
      family: 4,
      priority: 100 + (i % 800),
      to: host(i),
      action: "lookup",
      table: 254,
      protocol: 4,
    });
  return canonicalState({
    ...emptyState(),
    link: uplinks.map((u, i) => ({
      kind: "link",
      name: u.iface,
      index: i + 2,
      linkClass: "ethernet",
      adminUp: true,
      carrier: true,
      operState: "up",
      mtu: 1500,
    })),
    address: uplinks.map((u, i) => ({
      kind: "address",
      family: 4,
      dev: u.iface,
      // One subnet per uplink, as on a real node.
      local: `100.64.${i}.2/24`,
      scope: "global",
    })),
    route,
    // The kernel's own rules (local, main, default), as every observed node has them.
    rule: [...defaultRules().filter((r) => r.family === 4), ...rule],
  });
}

function churnStates(n: number, m: number): { observed: KernelState; desired: KernelState } {
  const r = (i: number, gw: number): Route => ({
    kind: "route",
    family: 4,
    table: 100 + (i % 1000),
    type: "unicast",
    dst: host(i),
    metric: 0,
    protocol: PROTO,
    scope: "global",
    gateway: `198.51.100.${gw}`,
    dev: "up0",
  });
  const u = (i: number, table: number): Rule => ({
    kind: "rule",
    family: 4,
    priority: 1000 + (i % 2000),
    to: host(i),
    action: "lookup",
    table,
    protocol: PROTO,
  });
  const observed = { route: [] as Route[], rule: [] as Rule[] };
  const desired = { route: [] as Route[], rule: [] as Rule[] };
  for (let i = 0; i < n; i++) {
    const bucket = i % 20;
    if (bucket !== 0) observed.route.push(r(i, 1)); // 5% appear
    if (bucket !== 1) desired.route.push(r(i, bucket < 4 ? 2 : 1)); // 5% go, 10% change
  }
  for (let i = 0; i < m; i++) {
    const bucket = i % 20;
    if (bucket !== 0) observed.rule.push(u(i, 100 + (i % 1000)));
    if (bucket !== 1) desired.rule.push(u(i, bucket < 4 ? 101 + (i % 999) : 100 + (i % 1000)));
  }
  return {
    observed: canonicalState({ ...emptyState(), ...observed }),
    desired: canonicalState({ ...emptyState(), ...desired }),
  };
}

/** Median wall time and median CPU time (user + system) of this process, in ms; CPU time is what the
 * planner costs when other work shares the cores. */
function measure(f: () => void, runs: number): { wall: number; cpu: number } {
  f(); // warm-up
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < runs; i++) {
    const c = process.cpuUsage();
    const s = performance.now();
    f();
    wall.push(performance.now() - s);
    const d = process.cpuUsage(c);
    cpu.push((d.user + d.system) / 1000);
  }
  const mid = (xs: number[]): number => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  return { wall: mid(wall), cpu: mid(cpu) };
}

const health = Object.fromEntries(
  uplinks.map((u, i) => [
    u.name,
    { state: "up" as const, since: 0, rttMs: 10 + i, lossPct: 0, successRate: 1 },
  ]),
);
const sizes: [number, number][] = [
  [1_000, 100],
  [10_000, 100],
  [100_000, 100],
  [1_000, 1_000],
  [10_000, 1_000],
  [100_000, 1_000],
];

const row = (w: string, n: number, m: number, ops: number, t: { wall: number; cpu: number }): void => {
  const size = n + m;
  const perNlogN = (t.cpu * 1000) / (size * Math.log2(size));
  console.log(
    `${w.padEnd(8)} ${String(n).padStart(7)} ${String(m).padStart(6)} ${String(ops).padStart(6)} ` +
      `${t.wall.toFixed(1).padStart(9)} ${t.cpu.toFixed(1).padStart(9)}   ${perNlogN.toFixed(4)}`,
  );
};

export async function run(): Promise<void> {
  console.log(`load average ${os.loadavg()[0]!.toFixed(1)} on ${os.cpus().length} cores`);
  console.log("workload  routes  rules    ops   wall ms    cpu ms   cpu µs per n·log2(n)");
  for (const [n, m] of sizes) {
    const runs = n >= 100_000 ? 5 : 15;
    const observed = computeNode(n, m);
    let ops = 0;
    const tc = measure(() => {
      const d = computeDesired({ uplinks, observed, health, usage: {}, params, families: [4], routing });
      const r = plan(observed, d.state, own());
      if (!r.ok) throw new Error(r.error.message);
      ops = r.ops.length;
    }, runs);
    row("compute", n, m, ops, tc);
    // The same, with every invariant checked after every prefix on the model kernel.
    const tk = measure(() => {
      const d = computeDesired({ uplinks, observed, health, usage: {}, params, families: [4], routing });
      const usable = d.selection.verdicts.filter((v) => v.usable).map((v) => v.iface);
      const check = modelCheck({
        ownership: own(),
        strategy: params.strategy,
        usableUplinks: usable,
        killSwitch: false,
        genericDestinations: genericDestinations(observed),
      });
      const r = plan(observed, d.state, own(), check);
      if (!r.ok) throw new Error(r.error.message);
      ops = r.ops.length;
    }, runs);
    row("+check", n, m, ops, tk);
    const { observed: o2, desired: d2 } = churnStates(n, m);
    const td = measure(() => {
      const r = plan(o2, d2, own());
      if (!r.ok) throw new Error(r.error.message);
      ops = r.ops.length;
    }, runs);
    row("churn", n, m, ops, td);
  }
}
