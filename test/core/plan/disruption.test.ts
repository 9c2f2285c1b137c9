import { describe, expect, it } from "vitest";
import { classify } from "../../../src/core/plan/disruption.js";
import { emptyState, type KernelState, type Op, type Route, type Rule } from "../../../src/kinds/types.js";
import { addr, link } from "../../support/plan-fixtures.js";

const route = (table: number, dst = "0.0.0.0/0"): Route => ({
  kind: "route",
  family: 4,
  table,
  type: "unicast",
  dst,
  metric: 0,
  protocol: 99,
  scope: "global",
  gateway: "198.51.100.1",
  dev: "eth0",
});
const catchAll: Rule = {
  kind: "rule",
  family: 4,
  priority: 1099,
  action: "lookup",
  table: 100,
  protocol: 99,
};
const source: Rule = { ...catchAll, priority: 1001, from: "198.51.100.2/32", table: 101 };

describe("disruption classes", () => {
  it("calls a route in a table nothing points at 'none', and the same route once a rule points there 'in-place'", () => {
    const start: KernelState = emptyState();
    const ops: Op[] = [
      { op: "add", after: route(101, "198.51.100.0/24") },
      { op: "add", after: source },
      { op: "add", after: route(101) },
    ];
    expect(classify(start, ops)).toEqual(["none", "in-place", "in-place"]);
  });

  it("calls any op on the catch-all rule or on the default its table holds a traffic switch", () => {
    const start: KernelState = { ...emptyState(), rule: [catchAll], route: [route(100)] };
    const ops: Op[] = [
      { op: "change", before: route(100), after: { ...route(100), gateway: "203.0.113.1", dev: "wlan0" } },
      { op: "delete", before: catchAll },
    ];
    expect(classify(start, ops)).toEqual(["traffic-switch", "traffic-switch"]);
  });

  it("calls a link going down, an MTU change, an address removal and a service restart a flap", () => {
    const eth0 = link("eth0", "ethernet");
    const svc = {
      kind: "hostapd" as const,
      iface: "ap0",
      argv: ["hostapd", "/var/lib/backhaul/hostapd/host/ap0.conf"],
      config: ["interface=ap0", "ssid=edge"],
    };
    const start: KernelState = {
      ...emptyState(),
      link: [eth0],
      address: [addr("eth0", "198.51.100.2/24")],
      hostapd: [svc],
    };
    const ops: Op[] = [
      { op: "change", before: eth0, after: { ...eth0, mtu: 1400 } },
      { op: "delete", before: addr("eth0", "198.51.100.2/24") },
      { op: "delete", before: svc },
      { op: "add", after: { ...svc, config: ["interface=ap0", "ssid=edge2"] } },
    ];
    expect(classify(start, ops)).toEqual(["flap", "flap", "flap", "none"]);
  });

  it("judges qdiscs and classes: a new class is unused until a filter sends traffic to it", () => {
    const q = {
      kind: "qdisc" as const,
      dev: "eth0",
      handle: "1:",
      parent: "root",
      qdiscKind: "htb",
      options: {},
    };
    const c = {
      kind: "class" as const,
      dev: "eth0",
      classid: "1:10",
      parent: "1:",
      classKind: "htb",
      options: { rate: "1mbit" },
    };
    expect(
      classify(emptyState(), [
        { op: "add", after: q },
        { op: "add", after: c },
      ]),
    ).toEqual(["in-place", "none"]);
  });
});
