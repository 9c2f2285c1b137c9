// Properties of a whole planning pass over generated nodes: links coming and going, carrier, addresses,
// DHCP-installed gateways, health and budgets, foreign routes and rules around ours.
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { canonicalState } from "../../../src/kinds/registry.js";
import { emptyState, type KernelState, type Route, type Rule } from "../../../src/kinds/types.js";
import { computeDesired, type DesiredInput } from "../../../src/core/plan/desired.js";
import { plan } from "../../../src/core/plan/order.js";
import { applyByKey } from "../../../src/core/model-kernel/by-key.js";
import { isCatchAll } from "../../../src/kinds/ip/rule.js";
import { toPrevious } from "../../../src/core/selection/select.js";
import type { Health, UplinkSpec } from "../../../src/core/selection/types.js";
import { canonicalJson } from "../../../src/util/canonical.js";
import { lookupRoute } from "../../support/lookup.js";
import {
  addr,
  link,
  mainDefault,
  numRuns,
  opsOf,
  ownership,
  PARAMS,
  ROUTING,
  T0,
  uplink,
} from "../../support/plan-fixtures.js";

const TEMPLATES = [
  { spec: uplink("eth0", "ethernet"), net: "198.51.100" },
  { spec: uplink("wlan0", "wifi"), net: "203.0.113" },
  { spec: uplink("wwan0", "lte", { metered: true }), net: "100.64.1" },
  { spec: uplink("usb0", "usb-tether"), net: "100.64.2" },
] as const;

// Mostly healthy facts, so that most scenarios have usable uplinks to choose between.
const likely = fc.constantFrom(true, true, true, true, true, true, true, false);
const linkFacts = fc.record({
  present: likely,
  carrier: likely,
  address: likely,
  dhcpGateway: likely,
  v6: fc.boolean(),
});
const healthArb: fc.Arbitrary<Health | undefined> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      state: fc.constantFrom("up" as const, "degraded" as const),
      since: fc.constant(T0),
      rttMs: fc.integer({ min: 0, max: 300 }),
      lossPct: fc.integer({ min: 0, max: 15 }),
      successRate: fc.constantFrom(0.5, 0.9, 1, 1),
    }),
  },
  fc.constant<Health>({ state: "down", since: T0, reason: "probes failed" }),
  fc.constant(undefined),
);
const world = fc.record({
  facts: fc.tuple(linkFacts, linkFacts, linkFacts, linkFacts),
  use: fc.tuple(
    ...TEMPLATES.map(() =>
      fc.constantFrom("normal" as const, "normal" as const, "emergency-only" as const, "never" as const),
    ),
  ),
  health: fc.tuple(healthArb, healthArb, healthArb, healthArb),
  exhausted: fc.boolean(),
});
const scenario = fc.record({
  first: world,
  second: world,
  strategy: fc.constantFrom("failover" as const, "balance" as const),
  whenNoneUsable: fc.constantFrom("keep-last" as const, "withdraw" as const),
});

type World = typeof world extends fc.Arbitrary<infer W> ? W : never;

const uplinksOf = (w: World): UplinkSpec[] => TEMPLATES.map((t, i) => ({ ...t.spec, use: w.use[i]! }));

/** The node's kernel as the world describes it, plus whatever backhaul left from before (owned objects). */
function kernel(w: World, owned: KernelState): KernelState {
  const s = {
    ...emptyState(),
    link: [] as ReturnType<typeof link>[],
    address: [] as ReturnType<typeof addr>[],
    route: [] as Route[],
    rule: [] as Rule[],
  };
  TEMPLATES.forEach((t, i) => {
    const f = w.facts[i]!;
    if (!f.present) return;
    s.link.push(link(t.spec.iface, t.spec.class, f.carrier, i + 2));
    if (f.address) {
      s.address.push(addr(t.spec.iface, `${t.net}.2/24`));
      s.route.push({
        kind: "route",
        family: 4,
        table: 254,
        type: "unicast",
        dst: `${t.net}.0/24`,
        metric: 0,
        protocol: 2,
        scope: "link",
        dev: t.spec.iface,
      });
    }
    if (f.dhcpGateway) s.route.push(mainDefault(t.spec.iface, `${t.net}.1`, 100 + i));
    if (f.v6) {
      s.address.push(addr(t.spec.iface, `2001:db8:${i}::2/64`, 6));
      s.route.push(mainDefault(t.spec.iface, "fe80::1", 1024 + i, 6));
    }
  });
  // Foreign neighbours: a rule ahead of ours and a route in a table outside our range.
  s.rule.push({
    kind: "rule",
    family: 4,
    priority: 500,
    to: "100.127.0.0/16",
    action: "lookup",
    table: 50,
    protocol: 4,
  });
  s.route.push({
    kind: "route",
    family: 4,
    table: 50,
    type: "unicast",
    dst: "100.127.0.0/16",
    metric: 0,
    protocol: 4,
    scope: "global",
    gateway: "198.51.100.9",
    dev: "eth0",
  });
  const current = canonicalState(s as unknown as KernelState);
  // Owned objects from before survive in the kernel (links going away take their routes along, which the
  // observer would show; the model keeps it simple and leaves them: plans must cope either way).
  return canonicalState({
    ...current,
    rule: [...current.rule, ...owned.rule],
    route: [...current.route, ...owned.route],
    sysctl: owned.sysctl.filter((x) => current.link.some((l) => x.name.includes(`.${l.name}.`))),
  });
}

function input(
  w: World,
  observed: KernelState,
  sc: { strategy: "failover" | "balance"; whenNoneUsable: "keep-last" | "withdraw" },
): DesiredInput {
  const uplinks = uplinksOf(w);
  return {
    uplinks,
    observed,
    health: Object.fromEntries(
      uplinks.flatMap((u, i) => (w.health[i] === undefined ? [] : [[u.name, w.health[i]!]])),
    ),
    usage: { wwan0: { usedBytes: 0, exhausted: w.exhausted } },
    params: { ...PARAMS, strategy: sc.strategy, whenNoneUsable: sc.whenNoneUsable },
    families: [4, 6],
    routing: ROUTING,
  };
}

const ownedOnly = (s: KernelState): KernelState => ({
  ...emptyState(),
  rule: s.rule.filter((r) => r.protocol === 99),
  route: s.route.filter((r) => r.protocol === 99),
  sysctl: s.sysctl,
});

describe("a planning pass over generated nodes", () => {
  it("converges, stays put when nothing changes, keeps one catch-all, local first and no rule to an empty table", () => {
    fc.assert(
      fc.property(scenario, (sc) => {
        const own = ownership(uplinksOf(sc.first));
        const k1 = kernel(sc.first, emptyState());
        const d1 = computeDesired(input(sc.first, k1, sc));
        const applied1 = applyByKey(k1, opsOf(plan(k1, d1.state, own)));

        // The world changes; what backhaul wrote stays in the kernel.
        const own2 = ownership(uplinksOf(sc.second));
        const k2 = kernel(sc.second, ownedOnly(applied1));
        const in2 = { ...input(sc.second, k2, sc), previous: toPrevious(d1.selection) };
        const d2 = computeDesired(in2);
        const applied2 = applyByKey(k2, opsOf(plan(k2, d2.state, own2)));
        expect(opsOf(plan(applied2, d2.state, own2))).toEqual([]);

        // Same world, one more pass: the decision and the desired state hold (no oscillation).
        const d3 = computeDesired({ ...in2, observed: applied2, previous: toPrevious(d2.selection) });
        expect(canonicalJson(d3.state)).toBe(canonicalJson(d2.state));
        expect(opsOf(plan(applied2, d3.state, own2))).toEqual([]);

        for (const family of [4, 6] as const) {
          const rules = d2.state.rule.filter((r) => r.family === family);
          expect(rules.filter(isCatchAll)).toHaveLength(1);
          const localFirst = rules.find((r) => r.suppressPrefixlength === 0)!;
          for (const r of rules)
            if (r !== localFirst) expect(r.priority).toBeGreaterThan(localFirst.priority);
          for (const r of rules.filter((x) => x.from !== undefined))
            expect(d2.state.route.some((rt) => rt.family === family && rt.table === r.table)).toBe(true);
        }
        const usable = d2.selection.verdicts.filter(
          (v) => v.usable && v.attachments.some((a) => a.family === 4),
        );
        const active = d2.state.route.find((r) => r.family === 4 && r.table === d2.layout.activeTable);
        if (usable.length > 0) {
          const devs = active?.nexthops?.map((n) => n.dev) ?? [active?.dev];
          for (const dev of devs) expect(usable.some((v) => v.iface === dev)).toBe(true);
          if (sc.strategy === "failover") expect(active?.nexthops).toBeUndefined();
        } else if (sc.whenNoneUsable === "withdraw") expect(active).toBeUndefined();

        // Local first: every address on a connected subnet still resolves through its interface.
        for (const r of applied2.route.filter((x) => x.table === 254 && x.scope === "link")) {
          const dst = r.dst.replace(/\.0\/24$/, ".77");
          expect(lookupRoute(applied2, dst)?.dev).toBe(r.dev);
        }
      }),
      { numRuns },
    );
  });

  it("leaves exactly the NAT'ed flows of the uplinks general traffic leaves by, deleting the others last", () => {
    fc.assert(
      fc.property(scenario, (sc) => {
        const k1 = kernel(sc.first, emptyState());
        const d1 = computeDesired(input(sc.first, k1, sc));
        const applied1 = applyByKey(k1, opsOf(plan(k1, d1.state, ownership(uplinksOf(sc.first)))));
        // A hotspot client has flows out of every uplink that has an address.
        const base = kernel(sc.second, ownedOnly(applied1));
        const k2: KernelState = {
          ...base,
          conntrack: TEMPLATES.flatMap((t) =>
            base.address.some((a) => a.dev === t.spec.iface && a.family === 4)
              ? [
                  {
                    kind: "conntrack" as const,
                    family: 4 as const,
                    address: `${t.net}.2`,
                    source: "100.64.50.10",
                    iface: t.spec.iface,
                    flows: 1,
                  },
                ]
              : [],
          ),
        };
        const own2 = ownership(uplinksOf(sc.second));
        const d2 = computeDesired({ ...input(sc.second, k2, sc), previous: toPrevious(d1.selection) });
        const ops = opsOf(plan(k2, d2.state, own2));
        const applied2 = applyByKey(k2, ops);
        const general = lookupRoute(applied2, "192.0.2.1");
        const ours = general?.table === d2.layout.activeTable;
        const carrying = new Set(
          general === undefined ? [] : (general.nexthops?.map((n) => n.dev) ?? [general.dev]),
        );
        // Where backhaul routes general traffic, only the flows out of its interfaces stay; where it
        // does not (no active default: the main table decides), it deletes none.
        expect(applied2.conntrack.map((f) => f.iface).sort()).toEqual(
          k2.conntrack
            .filter((f) => !ours || carrying.has(f.iface))
            .map((f) => f.iface)
            .sort(),
        );
        // Deletes of flows come after every other op.
        const firstFlow = ops.findIndex((o) => o.op === "delete" && o.before.kind === "conntrack");
        if (firstFlow >= 0)
          expect(ops.slice(firstFlow).every((o) => o.op === "delete" && o.before.kind === "conntrack")).toBe(
            true,
          );
      }),
      { numRuns },
    );
  });
});
