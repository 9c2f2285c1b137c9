import { describe, expect, it } from "vitest";
import {
  computeDesired,
  layoutFor,
  objectId,
  rpFilterName,
  type DesiredInput,
} from "../../../src/core/plan/desired.js";
import { describeObject, describeOp, objectOfOp } from "../../../src/kinds/registry.js";
import type { KernelState, NatFlows } from "../../../src/kinds/types.js";
import { reasonsFrom } from "../../../src/core/plan/reasons.js";
import { toPrevious } from "../../../src/core/selection/select.js";
import { plan } from "../../../src/core/plan/order.js";
import { applyByKey } from "../../../src/core/model-kernel/by-key.js";
import {
  addr,
  down,
  HOTSPOT_AP,
  HOTSPOT_SERVER,
  link,
  mainDefault,
  node,
  opsOf,
  ownership,
  PARAMS,
  ROUTING,
  up,
  uplink,
  UPLINKS,
} from "../../support/plan-fixtures.js";

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

const lines = (d: ReturnType<typeof computeDesired>): string[] =>
  [...d.state.rule, ...d.state.route].map(describeObject);

describe("desired state of the routing scheme", () => {
  it("gives each attached uplink a table and a source rule, with local-first and catch-all rules around them", () => {
    const d = computeDesired(input());
    expect(lines(d)).toEqual([
      "1000: from all lookup 254 suppress_prefixlength 0",
      "1001: from 198.51.100.2/32 lookup 101",
      "1002: from 203.0.113.2/32 lookup 102",
      "1003: from 100.64.0.2/32 lookup 103",
      "1099: from all lookup 100",
      "default via 198.51.100.1 dev eth0 table 100 metric 0 proto 99",
      "default via 198.51.100.1 dev eth0 table 101 metric 0 proto 99",
      "default via 203.0.113.1 dev wlan0 table 102 metric 0 proto 99",
      "default via 100.64.0.1 dev wwan0 table 103 metric 0 proto 99",
    ]);
    expect(d.state.sysctl.map((s) => `${s.name}=${s.value}`)).toEqual([
      "net.ipv4.conf.eth0.rp_filter=2",
      "net.ipv4.conf.wlan0.rp_filter=2",
      "net.ipv4.conf.wwan0.rp_filter=2",
    ]);
  });

  it("keeps every uplink's table when another uplink vanishes", () => {
    const s = node();
    const d = computeDesired(input({ observed: { ...s, link: s.link.filter((l) => l.name !== "eth0") } }));
    expect(d.state.route.filter((r) => r.table !== 100).map((r) => `${r.dev} ${r.table}`)).toEqual([
      "wlan0 102",
      "wwan0 103",
    ]);
    expect(d.selection.verdicts[0]!.reason).toBe("interface eth0 not present");
  });

  it("drops the table and source rule of an uplink that lost carrier, and moves the active default", () => {
    const d = computeDesired(
      input({
        observed: node({ carrier: { eth0: false } }),
        health: { eth0: down(), wlan0: up(), wwan0: up() },
      }),
    );
    expect(d.state.route.map((r) => `${r.table} ${r.dev}`)).toEqual(["100 wlan0", "102 wlan0", "103 wwan0"]);
    expect(d.state.rule.map((r) => r.priority)).toEqual([1000, 1002, 1003, 1099]);
  });

  it("marks a gateway outside the interface's prefixes on-link", () => {
    const s = node();
    const d = computeDesired(
      input({
        observed: { ...s, route: [mainDefault("eth0", "100.127.0.1")] },
        uplinks: [uplink("eth0", "ethernet")],
        health: { eth0: up() },
      }),
    );
    expect(d.state.route.every((r) => r.onlink === true)).toBe(true);
  });

  it("routes multipath with weights in the active table for the balance strategy", () => {
    const d = computeDesired(
      input({
        params: { ...PARAMS, strategy: "balance" },
        health: { eth0: up(), wlan0: up(100), wwan0: down() },
      }),
    );
    expect(describeObject(d.state.route[0]!)).toBe(
      "default nexthop via 198.51.100.1 dev eth0 weight 256 nexthop via 203.0.113.1 dev wlan0 weight 223 table 100 metric 0 proto 99",
    );
  });

  it("with keep-last keeps the last active default when nothing is usable; with withdraw removes it", () => {
    const healthy = computeDesired(input());
    const observed = applyByKey(node(), opsOf(plan(node(), healthy.state, ownership())));
    const allDown = { eth0: down(), wlan0: down(), wwan0: down() };
    const keep = computeDesired(input({ observed, health: allDown }));
    expect(keep.state.route.filter((r) => r.table === 100)).toEqual(
      healthy.state.route.filter((r) => r.table === 100),
    );
    const withdraw = computeDesired(
      input({ observed, health: allDown, params: { ...PARAMS, whenNoneUsable: "withdraw" } }),
    );
    expect(withdraw.state.route.filter((r) => r.table === 100)).toEqual([]);
    const p = plan(observed, withdraw.state, ownership());
    expect(
      p.ok && p.ops.filter((o) => o.op === "delete" && o.before.kind === "route" && o.before.table === 100),
    ).toHaveLength(1);
  });

  it("routes IPv6 where an uplink has a global address and a gateway, with the kernel's IPv6 metric", () => {
    const s = node();
    const observed = {
      ...s,
      address: [...s.address, addr("wlan0", "2001:db8:2::2/64", 6)],
      route: [...s.route, mainDefault("wlan0", "fe80::1", 1024, 6)],
    };
    const d = computeDesired(input({ observed, families: [4, 6] }));
    const v6 = [...d.state.rule, ...d.state.route].filter((o) => o.family === 6).map(describeObject);
    expect(v6).toEqual([
      "-6 1000: from all lookup 254 suppress_prefixlength 0",
      "-6 1002: from 2001:db8:2::2/128 lookup 102",
      "-6 1099: from all lookup 100",
      // eth0 is active but has no IPv6: IPv6 follows the next usable uplink that has it.
      "-6 default via fe80::1 dev wlan0 table 100 metric 1024 proto 99",
      "-6 default via fe80::1 dev wlan0 table 102 metric 1024 proto 99",
    ]);
  });

  it("refuses a table range too small for the uplinks", () => {
    expect(() => layoutFor(UPLINKS, { ...ROUTING, tables: { min: 100, max: 102 } })).toThrow(
      /uplink wwan0 needs table 103, outside the table range 100-102/,
    );
    expect(() => layoutFor(UPLINKS, { ...ROUTING, priorities: { min: 1000, max: 1003 } })).toThrow(
      /priority range 1000-1003 is too small/,
    );
  });

  it("refuses two uplinks on one interface", () => {
    expect(() =>
      layoutFor(
        [uplink("a", "ethernet", { iface: "eth0" }), uplink("b", "ethernet", { iface: "eth0" })],
        ROUTING,
      ),
    ).toThrow("routing: uplinks a and b share interface eth0");
  });

  it("writes sysctl names of interfaces with dots the way sysctl does", () => {
    expect(rpFilterName("eth0.100")).toBe("net.ipv4.conf.eth0/100.rp_filter");
  });
});

describe("desired QoS", () => {
  const shaping = {
    interface: "eth0",
    rate: 10_000_000,
    defaultClass: "bulk",
    classes: { bulk: { rate: 8_000_000, ceil: 10_000_000, priority: 2, dscp: 10, ports: [] } },
  };

  it("adds the HTB tree of a shaped interface next to the routing scheme, with reasons", () => {
    const plain = computeDesired(input());
    const d = computeDesired(input({ qos: [shaping] }));
    expect(d.state.rule).toEqual(plain.state.rule);
    expect(d.state.route).toEqual(plain.state.route);
    expect(d.state.qdisc.map(describeObject)).toEqual([
      "htb 1: dev eth0 root default 1:10 direct_qlen 1000 r2q 10",
    ]);
    expect(d.state.class.map((c) => c.classid)).toEqual(["1:1", "1:10"]);
    expect(d.state.filter.map((f) => f.handle)).toEqual(["800::1", "800::2"]);
    expect(d.reasons.get("class eth0 1:10")).toBe("qos on eth0: class bulk (default), priority 2");
  });

  it("waits for the shaped interface to exist", () => {
    const s = node();
    const d = computeDesired(
      input({ observed: { ...s, link: s.link.filter((l) => l.name !== "eth0") }, qos: [shaping] }),
    );
    expect([...d.state.qdisc, ...d.state.class, ...d.state.filter]).toEqual([]);
  });
});

describe("desired tracked flows and hotspot services", () => {
  describe("flows NAT'ed out of the uplinks", () => {
    const nat = (iface: string, address: string, source = "100.64.50.10"): NatFlows => ({
      kind: "conntrack",
      family: 4,
      address,
      source,
      iface,
      flows: 3,
    });
    const ETH0 = nat("eth0", "198.51.100.2");
    const WLAN0 = nat("wlan0", "203.0.113.2", "100.64.50.11");
    const withFlows = (s: KernelState): KernelState => ({ ...s, conntrack: [ETH0, WLAN0] });

    it("keeps the flows of the uplink carrying general traffic and deletes the others' last of all", () => {
      const healthy = computeDesired(input());
      const observed = withFlows(applyByKey(node(), opsOf(plan(node(), healthy.state, ownership()))));
      const d = computeDesired(input({ observed }));
      expect(d.state.conntrack).toEqual([ETH0]);
      const ops = opsOf(plan(observed, d.state, ownership()));
      expect(ops.map(describeOp)).toEqual([
        "delete conntrack NAT flows from 100.64.50.11 out of wlan0 as 203.0.113.2 (3 flows)",
      ]);
      expect(reasonsFrom(d)(ops[0]!)).toMatch(/^general traffic no longer leaves by wlan0/);
    });

    it("after a switch, deletes the old uplink's flows only once the new default and rules are in", () => {
      const healthy = computeDesired(input());
      const observed = withFlows(
        applyByKey(node({ carrier: { eth0: false } }), opsOf(plan(node(), healthy.state, ownership()))),
      );
      const d = computeDesired(
        input({
          observed,
          health: { eth0: down(), wlan0: up(), wwan0: up() },
          previous: toPrevious(healthy.selection),
        }),
      );
      expect(d.state.conntrack).toEqual([WLAN0]);
      const ops = opsOf(plan(observed, d.state, ownership()));
      expect(describeOp(ops[ops.length - 1]!)).toBe(
        "delete conntrack NAT flows from 100.64.50.10 out of eth0 as 198.51.100.2 (3 flows)",
      );
      expect(ops.filter((o) => objectOfOp(o).kind === "conntrack")).toHaveLength(1);
    });

    it("keeps the flows of every uplink a balanced default uses", () => {
      const d = computeDesired(
        input({
          observed: withFlows(node()),
          params: { ...PARAMS, strategy: "balance" },
          health: { eth0: up(), wlan0: up(100), wwan0: down() },
        }),
      );
      expect(d.state.conntrack).toEqual([ETH0, WLAN0]);
    });

    it("keeps the flows of the last default that keep-last holds on to", () => {
      const healthy = computeDesired(input());
      const observed = withFlows(applyByKey(node(), opsOf(plan(node(), healthy.state, ownership()))));
      const keep = computeDesired(
        input({ observed, health: { eth0: down(), wlan0: down(), wwan0: down() } }),
      );
      expect(keep.state.conntrack).toEqual([ETH0]);
    });

    it("leaves flows of interfaces that are not uplinks alone", () => {
      const vpn = nat("wg0", "10.8.0.2");
      const observed = { ...node(), conntrack: [vpn] };
      const d = computeDesired(input({ observed }));
      expect(opsOf(plan(observed, d.state, ownership()))).not.toContainEqual({ op: "delete", before: vpn });
    });
  });

  describe("the hotspot's own address, access point and server", () => {
    const hotspot = {
      raise: "always" as const,
      address: "100.64.50.1/24",
      dir: "/var/lib/backhaul/dnsmasq/host",
      dnsmasq: { ...HOTSPOT_SERVER, iface: "ap0" },
      hostapd: { dir: "/var/lib/backhaul/hostapd/host", params: { ...HOTSPOT_AP, iface: "ap0" } },
    };
    const own = { ...ownership(), addresses: ["ap0 100.64.50.1/24"] };
    const withAp = (s: KernelState, addressed: boolean): KernelState => ({
      ...s,
      link: [...s.link, link("ap0", "wifi", true, 9)],
      address: [...s.address, ...(addressed ? [addr("ap0", "100.64.50.1/24")] : [])],
    });

    it("puts the address on the hotspot interface before its server starts, and both only once", () => {
      const observed = withAp(node(), false);
      const d = computeDesired(input({ observed, hotspot }));
      expect(d.state.address).toEqual([addr("ap0", "100.64.50.1/24")]);
      const ops = opsOf(plan(observed, d.state, own));
      const kinds = ops.map((o) => objectOfOp(o).kind);
      expect(kinds.filter((k) => k === "address" || k === "dnsmasq" || k === "hostapd")).toEqual([
        "address",
        "hostapd",
        "dnsmasq",
      ]);
      expect(kinds.indexOf("address")).toBeLessThan(kinds.indexOf("dnsmasq"));
      const after = applyByKey(observed, ops);
      expect(opsOf(plan(after, computeDesired(input({ observed: after, hotspot })).state, own))).toEqual([]);
    });

    it("never deletes the address once the hotspot is no longer raised (it is not ours then)", () => {
      const observed = withAp(node(), true);
      const d = computeDesired(input({ observed }));
      const addressOps = opsOf(plan(observed, d.state, ownership())).filter(
        (o) => objectOfOp(o).kind === "address",
      );
      expect(addressOps).toEqual([]);
    });

    const allDown = { eth0: down(), wlan0: down(), wwan0: down() };
    const nat = { table: "backhaul", hotspotInterface: "ap0", address: "100.64.50.1/24" };
    const served = (d: ReturnType<typeof computeDesired>) => [
      ...d.state.hostapd.map((h) => h.kind),
      ...d.state.dnsmasq.map((x) => x.kind),
      ...d.state["nft-table"].map((t) => t.kind),
    ];

    it("raises a when-no-uplink hotspot in a one-shot plan exactly when no uplink is usable", () => {
      const observed = withAp(node(), true);
      const when = { ...hotspot, raise: "when-no-uplink" as const };
      expect(served(computeDesired(input({ observed, hotspot: when, nat })))).toEqual([]);
      const raised = computeDesired(input({ observed, hotspot: when, nat, health: allDown }));
      expect(served(raised)).toEqual(["hostapd", "dnsmasq", "nft-table"]);
      const id = objectId(raised.state.hostapd[0]!);
      expect(raised.reasons.get(id)).toMatch(/^hotspot \(no uplink is usable\): access point "edge"/);
    });

    it("follows the daemon's decision, and keeps the address (never deletes it) while lowered", () => {
      const observed = withAp(node(), true);
      const lowered = { ...hotspot, raise: { up: false, why: "fibre usable for 60 s" } };
      const d = computeDesired(input({ observed, hotspot: lowered, nat, health: allDown }));
      expect(served(d)).toEqual([]);
      expect(d.state.address).toEqual([addr("ap0", "100.64.50.1/24")]);
      expect(opsOf(plan(observed, d.state, own)).filter((o) => objectOfOp(o).kind === "address")).toEqual([]);
      const up = { ...hotspot, raise: { up: true, why: "no uplink usable for 30 s" } };
      expect(served(computeDesired(input({ observed, hotspot: up, nat })))).toEqual([
        "hostapd",
        "dnsmasq",
        "nft-table",
      ]);
      // Not there while lowered: nothing to keep, nothing added.
      const bare = withAp(node(), false);
      expect(computeDesired(input({ observed: bare, hotspot: lowered })).state.address).toEqual([]);
    });

    it("waits for the hotspot interface to exist", () => {
      const d = computeDesired(input({ hotspot }));
      expect([...d.state.address, ...d.state.dnsmasq, ...d.state.hostapd]).toEqual([]);
    });
  });
});
