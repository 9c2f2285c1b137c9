// Lookup and checkPlan timing on 100k routes and 1,000 rules (a report, no assertions): npx tsx bench/kernel-model.bench.ts
import { checkPlan } from "../src/invariants/index.js";
import { defaultRules, ModelKernel } from "../src/kernel-model/index.js";
import { emptyState, type Route, type Rule } from "../src/model/types.js";

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
const routes: Route[] = [];
for (let i = 0; i < 100_000; i++)
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
for (let i = 0; i < 1000; i++)
  rules.push({
    kind: "rule",
    family: 4,
    priority: 1000 + i,
    fwmark: i + 1,
    action: "lookup",
    table: 100 + (i % 50),
    protocol: 200,
  });
const state = {
  ...emptyState(),
  link: [link],
  address: [
    {
      kind: "address" as const,
      family: 4 as const,
      dev: "eth0",
      local: "198.51.100.2/24",
      scope: "global" as const,
    },
  ],
  route: routes,
  rule: rules,
};
let t = performance.now();
const k = ModelKernel.from(state);
console.log(`build index: ${(performance.now() - t).toFixed(0)} ms`);
t = performance.now();
for (let i = 0; i < 10_000; i++) k.lookup({ dst: `100.64.${i & 255}.${(i * 7) & 255}`, mark: i % 1000 });
console.log(`lookup: ${((performance.now() - t) / 10).toFixed(1)} µs each`);
const ops = routes.slice(0, 1000).map((r) => ({
  op: "change" as const,
  before: r,
  after: { ...r, metric: 0, scope: "link" as const, protocol: 200 },
}));
const ctx = {
  ownership: {
    protocol: 200,
    tables: { min: 100, max: 199 },
    priorities: { min: 1000, max: 1999 },
    qosInterfaces: [],
    nftTable: { family: "inet" as const, name: "backhaul" },
    sysctls: [],
  },
  strategy: "failover" as const,
  usableUplinks: [],
  killSwitch: false,
  genericDestinations: ["192.0.2.77"],
  localSubnets: [],
};
t = performance.now();
const r = checkPlan(state, ops, ctx);
console.log(
  `checkPlan (100k routes, 1,000 rules, 1,000 ops): ${(performance.now() - t).toFixed(0)} ms, ok=${r.ok}`,
);
