import { dnsmasqOf } from "../../../src/kinds/services/dnsmasq.js";
import { describe, expect, it } from "vitest";
import { computeDesired, type DesiredInput } from "../../../src/core/plan/desired.js";
import { describeObject } from "../../../src/kinds/registry.js";
import { diff, OwnershipError } from "../../../src/core/plan/diff.js";
import { plan } from "../../../src/core/plan/order.js";
import { applyByKey } from "../../../src/core/model-kernel/by-key.js";
import { classify } from "../../../src/core/plan/disruption.js";
import { emptyState, type KernelState, type Op, type Route } from "../../../src/kinds/types.js";
import {
  down,
  HOTSPOT_SERVER,
  node,
  opsOf,
  ownership,
  PARAMS,
  ROUTING,
  up,
  UPLINKS,
} from "../../support/plan-fixtures.js";
import { lookupRoute } from "../../support/lookup.js";

const input = (over: Partial<DesiredInput> = {}): DesiredInput => ({
  uplinks: UPLINKS,
  observed: node(),
  health: { eth0: up(), wlan0: up(), wwan0: up() },
  usage: {},
  params: PARAMS,
  families: [4],
  routing: ROUTING,
  ...over,
});

const own = ownership();
const show = (op: Op): string =>
  op.op === "change"
    ? `~ ${describeObject(op.before)} → ${describeObject(op.after)}`
    : `${op.op === "add" ? "+" : "-"} ${describeObject(op.op === "add" ? op.after : op.before)}`;

const connected: Route = {
  kind: "route",
  family: 4,
  table: 254,
  type: "unicast",
  dst: "198.51.100.0/24",
  metric: 0,
  protocol: 2,
  scope: "link",
  dev: "eth0",
};

/** The node after a first apply with every uplink healthy (eth0 active). */
function converged(): KernelState {
  const start = { ...node(), route: [...node().route, connected] };
  const d = computeDesired(input({ observed: start }));
  return applyByKey(start, opsOf(plan(start, d.state, own)));
}

/** The same node, eth0's carrier gone. */
function carrierLost(s: KernelState): KernelState {
  return {
    ...s,
    link: s.link.map((l) => (l.name === "eth0" ? { ...l, carrier: false, operState: "lowerlayerdown" } : l)),
  };
}

describe("plan ordering", () => {
  it("builds tables before the rules that point at them on a fresh node", () => {
    const start = node();
    const ops = opsOf(plan(start, computeDesired(input()).state, own));
    expect(ops.map(show)).toEqual([
      "+ net.ipv4.conf.eth0.rp_filter = 2",
      "+ net.ipv4.conf.wlan0.rp_filter = 2",
      "+ net.ipv4.conf.wwan0.rp_filter = 2",
      "+ default via 198.51.100.1 dev eth0 table 100 metric 0 proto 99",
      "+ default via 198.51.100.1 dev eth0 table 101 metric 0 proto 99",
      "+ default via 203.0.113.1 dev wlan0 table 102 metric 0 proto 99",
      "+ default via 100.64.0.1 dev wwan0 table 103 metric 0 proto 99",
      "+ 1000: from all lookup 254 suppress_prefixlength 0",
      "+ 1001: from 198.51.100.2/32 lookup 101",
      "+ 1002: from 203.0.113.2/32 lookup 102",
      "+ 1003: from 100.64.0.2/32 lookup 103",
      "+ 1099: from all lookup 100",
    ]);
    expect(classify(start, ops)).toEqual([
      ...Array(3).fill("in-place"),
      ...Array(4).fill("none"),
      "in-place",
      "in-place",
      "in-place",
      "in-place",
      "traffic-switch",
    ]);
  });

  it("switches the active default with one atomic replace, then removes the rule before its table", () => {
    const before = carrierLost(converged());
    const d = computeDesired(
      input({
        observed: before,
        health: { eth0: down(), wlan0: up(), wwan0: up() },
        previous: { active: [{ name: "eth0", weight: 1, score: 1070 }], usable: ["eth0", "wlan0", "wwan0"] },
      }),
    );
    const ops = opsOf(plan(before, d.state, own));
    expect(ops.map(show)).toEqual([
      "~ default via 198.51.100.1 dev eth0 table 100 metric 0 proto 99 → default via 203.0.113.1 dev wlan0 table 100 metric 0 proto 99",
      "- 1001: from 198.51.100.2/32 lookup 101",
      "- default via 198.51.100.1 dev eth0 table 101 metric 0 proto 99",
    ]);
    // Once its rule is gone nothing uses table 101: removing its route disturbs nothing.
    expect(classify(before, ops)).toEqual(["traffic-switch", "in-place", "none"]);
    expect(d.reasons.get("route 4 100 0.0.0.0/0 0")).toBe(
      "switching active uplink eth0 → wlan0: eth0 down since 12:03:41, carrier lost",
    );
  });

  it("moves a rule make-before-break: the new priority is added before the old one goes", () => {
    const before = converged();
    const d = computeDesired(
      input({ observed: before, routing: { ...ROUTING, priorities: { min: 1000, max: 1098 } } }),
    );
    const ops = opsOf(plan(before, d.state, own));
    expect(ops.map(show)).toEqual(["+ 1098: from all lookup 100", "- 1099: from all lookup 100"]);
  });

  it("restarts a service whose configuration changed: delete right before add", () => {
    const params = HOTSPOT_SERVER;
    const svc = { ...dnsmasqOf("/var/lib/backhaul/dnsmasq/host", params), pid: 10 };
    const ops = opsOf(
      plan(
        { ...emptyState(), dnsmasq: [svc] },
        {
          ...emptyState(),
          dnsmasq: [dnsmasqOf("/var/lib/backhaul/dnsmasq/host", { ...params, leaseSeconds: 600 })],
        },
        own,
      ),
    );
    expect(ops.map((o) => o.op)).toEqual(["delete", "add"]);
    expect(classify({ ...emptyState(), dnsmasq: [svc] }, ops)).toEqual(["flap", "none"]);
  });

  it("leaves foreign rules and routes alone, even inside our ranges", () => {
    const s = converged();
    const foreignRule = {
      kind: "rule" as const,
      family: 4 as const,
      priority: 1050,
      action: "lookup" as const,
      table: 101,
      protocol: 4,
    };
    const foreignRoute: Route = { ...connected, table: 101, protocol: 4 };
    const observed = { ...s, rule: [...s.rule, foreignRule], route: [...s.route, foreignRoute] };
    const d = computeDesired(input({ observed }));
    expect(opsOf(plan(observed, d.state, own))).toEqual([]);
  });

  it("refuses a desired object backhaul does not own", () => {
    const foreign = { ...emptyState(), route: [{ ...connected, protocol: 99 }] };
    expect(() => diff(emptyState(), foreign, own)).toThrow(OwnershipError);
  });

  it("returns the failing step instead of a plan that breaks an invariant", () => {
    // Static gateways and no DHCP defaults in main: withdrawing our default leaves no route at all.
    const uplinks = UPLINKS.map((u) => ({
      ...u,
      gateway: { eth0: "198.51.100.1", wlan0: "203.0.113.1", wwan0: "100.64.0.1" }[u.name]!,
    }));
    const bare = { ...node(), route: [] };
    const before = applyByKey(
      bare,
      opsOf(plan(bare, computeDesired(input({ uplinks, observed: bare })).state, own)),
    );
    const allDown = { eth0: down(), wlan0: down(), wwan0: down() };
    const withdraw = { ...PARAMS, whenNoneUsable: "withdraw" as const };
    const d = computeDesired(input({ uplinks, observed: before, health: allDown, params: withdraw }));
    // always-one-route, judged by the test lookup after every prefix of the plan.
    const check = (start: KernelState, ops: readonly Op[]) => {
      let state = start;
      for (let step = 0; step < ops.length; step++) {
        state = applyByKey(state, [ops[step]!]);
        if (lookupRoute(state, "100.64.9.9") === undefined)
          return { ok: false as const, step, violations: ["always-one-route: no route for general traffic"] };
      }
      return { ok: true as const };
    };
    const r = plan(before, d.state, own, check);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.error.message).toMatch(
        /^the plan breaks an invariant after step \d+ \(delete route default via 198\.51\.100\.1 dev eth0 table 100 metric 0 proto 99\): always-one-route: no route for general traffic$/,
      );
    }
  });
});

describe("management path", () => {
  const switchPlan = (): { before: KernelState; ops: readonly Op[] } => {
    const before = carrierLost(converged());
    const d = computeDesired(
      input({
        observed: before,
        health: { eth0: down(), wlan0: up(), wwan0: up() },
        previous: { active: [{ name: "eth0", weight: 1, score: 1070 }], usable: ["eth0"] },
      }),
    );
    return { before, ops: opsOf(plan(before, d.state, own)) };
  };

  it("flags the op that moves the route to the operator's SSH peer", () => {
    const { before, ops } = switchPlan();
    expect(classify(before, ops, { managementPeer: "100.64.9.9", routeFor: lookupRoute })).toEqual([
      "management-path",
      "in-place",
      "none",
    ]);
  });

  it("leaves a peer on a connected subnet alone: local first keeps its route", () => {
    const { before, ops } = switchPlan();
    expect(classify(before, ops, { managementPeer: "198.51.100.77", routeFor: lookupRoute })).toEqual([
      "traffic-switch",
      "in-place",
      "none",
    ]);
  });
});
