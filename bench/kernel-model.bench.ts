// Lookup and checkPlan timing for 1k/10k/100k routes and 1,000 rules (a report, no assertions):
//   npx tsx bench/kernel-model.bench.ts
// "cold" is the first run in the process (JIT warm-up, address parse cache empty), "warm" the second.
import { checkPlan, type InvariantContext } from "../src/core/invariants.js";
import { defaultRules, ModelKernel } from "../src/core/model-kernel/index.js";
import { emptyState, type KernelState, type Op, type Route, type Rule } from "../src/kinds/types.js";

const link = {
  kind: "link" as const,
  name: "eth0",
  index: 2,
  linkClass: "ethernet" as const,
  adminUp: true,
  carrier: true,
  operState: "up",
  mtu: 1500,
};

function makeState(nRoutes: number, nRules: number): KernelState {
  const routes: Route[] = [];
  for (let i = 0; i < nRoutes; i++)
    routes.push({
      kind: "route",
      family: 4,
      table: 100 + (i % 50),
      type: "unicast",
      dst: `100.${64 + ((i >> 16) & 63)}.${(i >> 8) & 255}.${i & 255}/32`,
      metric: 0,
      protocol: 200,
      scope: "link",
      dev: "eth0",
    });
  const rules: Rule[] = [...defaultRules()];
  for (let i = 0; i < nRules; i++)
    rules.push({
      kind: "rule",
      family: 4,
      priority: 1000 + i,
      fwmark: i + 1,
      action: "lookup",
      table: 100 + (i % 50),
      protocol: 200,
    });
  return {
    ...emptyState(),
    link: [link],
    address: [{ kind: "address", family: 4, dev: "eth0", local: "198.51.100.2/24", scope: "global" }],
    route: routes,
    rule: rules,
  };
}

const ctx: InvariantContext = {
  ownership: {
    protocol: 200,
    tables: { min: 100, max: 199 },
    priorities: { min: 1000, max: 1999 },
    qosInterfaces: [],
    nftTable: { family: "inet", name: "backhaul" },
    sysctls: [],
    uplinkInterfaces: [],
    addresses: [],
  },
  strategy: "failover",
  usableUplinks: [],
  killSwitch: false,
  genericDestinations: ["203.0.113.177", "3fff::77"],
  localSubnets: [],
};

const ms = (t: number): string => `${(performance.now() - t).toFixed(0)} ms`;

export async function run(): Promise<void> {
  for (const n of [1_000, 10_000, 100_000]) {
    const state = makeState(n, 1000);
    // A plan that changes 1% of the routes (at least 10) in place.
    const ops: Op[] = state.route
      .slice(0, Math.max(10, n / 100))
      .map((r) => ({ op: "change", before: r, after: { ...r, metric: 0, prefsrc: "198.51.100.2" } }));
    for (const run of ["cold", "warm"]) {
      let t = performance.now();
      const k = ModelKernel.from(state);
      const build = ms(t);
      t = performance.now();
      for (let i = 0; i < 10_000; i++)
        k.lookup({ dst: `100.64.${i & 255}.${(i * 7) & 255}`, mark: i % 1000 });
      const lookup = `${(((performance.now() - t) * 1000) / 10_000).toFixed(1)} µs`;
      t = performance.now();
      const r = checkPlan(state, ops, ctx);
      console.log(
        `${n} routes, 1000 rules, ${ops.length} ops (${run}): index ${build}, lookup ${lookup}, checkPlan ${ms(t)} (ok=${r.ok})`,
      );
    }
  }
}
