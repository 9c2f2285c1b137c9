import { describe, expect, it } from "vitest";
import { fc } from "../../support/fc.js";
import {
  checkInvariants,
  checkPlan,
  checkRollback,
  genericDestinations,
  type InvariantContext,
  type Violation,
} from "../../../src/core/invariants.js";
import { applyOps } from "../../../src/core/model-kernel/index.js";
import { loadableState } from "../../../src/core/model-kernel/load.js";
import { isOwned, keyOf } from "../../../src/kinds/registry.js";
import type { KernelState, Op, Ownership, Route, Rule } from "../../../src/kinds/types.js";
import { GEN_OWNED, kernelStateArb } from "../../arbitraries/kernel-state.js";

const ownership: Ownership = {
  ...GEN_OWNED,
  qosInterfaces: [],
  nftTable: { family: "inet", name: "backhaul" },
  sysctls: [],
  uplinkInterfaces: [],
  addresses: [],
};

function contextFor(s: KernelState, o: Partial<InvariantContext> = {}): InvariantContext {
  return {
    ownership,
    strategy: "failover",
    usableUplinks: s.link.slice(0, 1).map((l) => l.name),
    killSwitch: false,
    genericDestinations: genericDestinations(s),
    localSubnets: [],
    ...o,
  };
}

const names = (vs: readonly Violation[]): string[] => vs.map((v) => v.invariant);
const foreignRule = (family: 4 | 6, o: Partial<Rule>): Rule => ({
  kind: "rule",
  family,
  priority: 1,
  action: "prohibit",
  protocol: 4,
  ...o,
});

describe("invariant checks find hand-made violations in any state", () => {
  it("a foreign prohibit rule ahead of everything blackholes general traffic", () => {
    fc.assert(
      fc.property(kernelStateArb(), (s) => {
        const bad = { ...s, rule: [...s.rule, foreignRule(4, {}), foreignRule(6, {})] };
        expect(names(checkInvariants(bad, contextFor(bad)))).toContain("no-blackhole");
      }),
    );
  });
  it("a foreign rule that shadows ours with a table holding an unreachable default is found", () => {
    fc.assert(
      fc.property(kernelStateArb(), (s) => {
        const unreachable = (dst: string): Route => ({
          kind: "route",
          family: dst.includes(":") ? 6 : 4,
          table: 77,
          type: "unreachable",
          dst,
          metric: 0,
          protocol: 4,
          scope: "global",
        });
        const bad = {
          ...s,
          route: [...s.route, unreachable("0.0.0.0/0"), unreachable("::/0")],
          rule: [
            ...s.rule,
            foreignRule(4, { action: "lookup", table: 77 }),
            foreignRule(6, { action: "lookup", table: 77 }),
          ],
        };
        expect(names(checkInvariants(bad, contextFor(bad)))).toContain("no-blackhole");
      }),
    );
  });
  it("with every device down general traffic has no route although an uplink is usable", () => {
    fc.assert(
      fc.property(kernelStateArb(), (s) => {
        const bad = { ...s, link: s.link.map((l) => ({ ...l, adminUp: false })) };
        expect(names(checkInvariants(bad, contextFor(bad)))).toContain("always-one-route");
      }),
    );
  });
  it("two owned catch-all rules break single-active under failover", () => {
    fc.assert(
      fc.property(kernelStateArb(), fc.integer({ min: 1000, max: 1998 }), (s, p) => {
        const catchAll = (priority: number, table: number): Rule => ({
          kind: "rule",
          family: 4,
          priority,
          action: "lookup",
          table,
          protocol: GEN_OWNED.protocol,
        });
        const bad = { ...s, rule: [...s.rule, catchAll(p, 150), catchAll(p + 1, 151)] };
        expect(names(checkInvariants(bad, contextFor(bad)))).toContain("single-active");
      }),
    );
  });
});

/** A start state without some owned routes and rules, and a plan that adds them back in any order. */
const planArb = kernelStateArb().chain((s) => {
  const owned = [...s.route, ...s.rule].filter((o) => isOwned(o, ownership));
  return fc.shuffledSubarray(owned).map((taken) => {
    const keys = new Set(taken.map(keyOf));
    const start = loadableState({
      ...s,
      route: s.route.filter((r) => !keys.has(keyOf(r))),
      rule: s.rule.filter((r) => !keys.has(keyOf(r))),
    }).state;
    const ops: Op[] = taken.map((o) => ({ op: "add", after: o }));
    return { s, start, ops };
  });
});

describe("checkPlan", () => {
  it("answers exactly as checking every prefix from scratch", () => {
    fc.assert(
      fc.property(planArb, ({ s, start, ops }) => {
        const ctx = contextFor(s);
        const known = new Set(checkInvariants(start, ctx).map((v) => `${v.invariant}:${v.message}`));
        let expected: number | undefined;
        for (let i = 0; i < ops.length && expected === undefined; i++) {
          const r = applyOps(start, ops.slice(0, i + 1));
          if (!r.ok || checkInvariants(r.state, ctx).some((v) => !known.has(`${v.invariant}:${v.message}`)))
            expected = i;
        }
        const got = checkPlan(start, ops, ctx);
        expect(got.ok ? undefined : got.step).toBe(expected);
      }),
    );
  });
  it("inverse ops from any failure index restore the start state", () => {
    fc.assert(
      fc.property(planArb, fc.nat(), ({ start, ops }, n) => {
        const ok = applyOps(start, ops);
        fc.pre(ok.ok);
        expect(checkRollback(start, ops, ops.length === 0 ? 0 : n % (ops.length + 1))).toEqual([]);
      }),
    );
  });
});
