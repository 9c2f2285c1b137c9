import { describe, expect, it } from "vitest";
import {
  checkConvergence,
  checkInvariants,
  checkMinimality,
  checkPlan,
  checkRollback,
  genericDestinations,
  type InvariantContext,
} from "../../../src/core/invariants.js";
import { addr, link, route, rule, state } from "../model-kernel/fixtures.js";

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
  usableUplinks: ["eth0"],
  killSwitch: false,
  genericDestinations: ["203.0.113.177"],
  localSubnets: [],
};
const base = state({
  link: [link("eth0"), link("wwan0")],
  address: [addr("eth0", "100.64.1.2/24"), addr("wwan0", "100.64.2.2/24")],
  route: [route("0.0.0.0/0", { table: 100, gateway: "100.64.1.1", dev: "eth0" })],
  rule: [...state({}).rule, rule(1000, { table: 100 })],
});

describe("invariants", () => {
  it("a healthy failover state has no violation", () => {
    expect(checkInvariants(base, ctx)).toEqual([]);
  });
  it("detects a blackhole for general traffic", () => {
    const s = { ...base, route: [route("0.0.0.0/0", { table: 100, type: "blackhole" })] };
    expect(checkInvariants(s, ctx).map((v) => v.invariant)).toContain("no-blackhole");
  });
  it("detects general traffic through a down device", () => {
    const s = { ...base, link: [link("eth0", { adminUp: false }), link("wwan0")] };
    expect(checkInvariants(s, ctx).map((v) => v.invariant)).toContain("always-one-route");
  });
  it("detects a foreign rule that shadows ours", () => {
    const s = {
      ...base,
      rule: [...base.rule, rule(500, { action: "prohibit", table: undefined, protocol: 4 })],
    };
    expect(checkInvariants(s, ctx).map((v) => v.invariant)).toContain("no-blackhole");
  });
  it("detects two catch-all rules under failover", () => {
    const s = { ...base, rule: [...base.rule, rule(1001, { table: 101 })] };
    expect(checkInvariants(s, ctx).map((v) => v.invariant)).toContain("single-active");
  });
  it("checkPlan names the first step that breaks an invariant", () => {
    const ops = [
      { op: "add" as const, after: route("0.0.0.0/0", { table: 101, gateway: "100.64.2.1", dev: "wwan0" }) },
      {
        op: "delete" as const,
        before: route("0.0.0.0/0", { table: 100, gateway: "100.64.1.1", dev: "eth0" }),
      },
    ];
    expect(checkPlan(base, ops, ctx)).toMatchObject({ ok: false, step: 1 });
    expect(checkPlan(base, ops.slice(0, 1), ctx).ok).toBe(true);
  });
  it("checkPlan refuses an op on a foreign object", () => {
    const foreign = route("203.0.113.0/24", { table: 254, gateway: "100.64.1.1", dev: "eth0", protocol: 4 });
    expect(checkPlan(base, [{ op: "add", after: foreign }], ctx)).toMatchObject({
      ok: false,
      violations: [{ invariant: "ownership" }],
    });
  });
  it("rolling back a prefix restores the start state", () => {
    const ops = [
      {
        op: "change" as const,
        before: route("0.0.0.0/0", { table: 100, gateway: "100.64.1.1", dev: "eth0" }),
        after: route("0.0.0.0/0", { table: 100, gateway: "100.64.2.1", dev: "wwan0" }),
      },
    ];
    expect(checkRollback(base, ops, 1)).toEqual([]);
  });
  it("generic destinations avoid every specific route", () => {
    expect(genericDestinations(state({ route: [route("203.0.113.0/24", { type: "blackhole" })] }))).toEqual([
      "198.51.100.177",
      "3fff::77",
    ]);
  });
  it("convergence holds when the plan reaches the desired owned state and fails otherwise", () => {
    const extra = route("0.0.0.0/0", { table: 101, gateway: "100.64.2.1", dev: "wwan0" });
    const desired = { ...base, route: [...base.route, extra] };
    expect(checkConvergence(base, [{ op: "add", after: extra }], desired, ctx.ownership)).toEqual([]);
    expect(checkConvergence(base, [], desired, ctx.ownership).map((v) => v.invariant)).toEqual([
      "convergence",
    ]);
  });
  it("minimality flags a change without difference, a second op for one object and a foreign op", () => {
    const r = base.route[0]!;
    expect(checkMinimality(base, [{ op: "change", before: r, after: r }], ctx.ownership)).toHaveLength(1);
    const other = { ...r, gateway: "100.64.2.1", dev: "wwan0" };
    expect(
      checkMinimality(
        base,
        [
          { op: "change", before: r, after: other },
          { op: "change", before: other, after: r },
        ],
        ctx.ownership,
      ),
    ).toHaveLength(1);
    const foreign = route("203.0.113.0/24", { protocol: 4, gateway: "100.64.1.1", dev: "eth0" });
    expect(
      checkMinimality(base, [{ op: "add", after: foreign }], ctx.ownership).map((v) => v.invariant),
    ).toEqual(["minimality"]);
    expect(checkMinimality(base, [], ctx.ownership)).toEqual([]);
  });
});
