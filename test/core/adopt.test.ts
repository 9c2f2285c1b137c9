// `backhaul adopt` as a pure function: the policy it writes for a node loads, keeps what is there, and
// planning on it leaves general traffic on the same device and gateway (the model kernel says so,
// before and after the plan's ops).
import { describe, expect, it } from "vitest";
import { adopt, checkAdoption, generalDestinations, generalRoute } from "../../src/core/adopt.js";
import { applyOps, lookup } from "../../src/core/model-kernel/index.js";
import { plannerInputs } from "../../src/core/plan/inputs.js";
import { desiredInputOf, planChecked } from "../../src/core/reconcile.js";
import { assumedHealth } from "../../src/core/selection/assume.js";
import { canonicalState } from "../../src/kinds/registry.js";
import { dhcpClientOf, dhcpDir } from "../../src/kinds/services/dhcp-client.js";
import type { KernelState, Link, Route, Rule } from "../../src/kinds/types.js";
import { emptyState } from "../../src/kinds/types.js";
import { loadPolicyTexts } from "../../src/policy/load.js";
import type { EffectivePolicy } from "../../src/policy/types.js";
import { digest } from "../../src/util/canonical.js";
import { withConnected } from "../support/daemon-sim.js";
import { addr, link, mainDefault } from "../support/plan-fixtures.js";

const allUp = (names: readonly string[]) => Object.fromEntries(names.map((n) => [n, assumedHealth("up", 0)]));

function nodeOf(parts: Partial<KernelState>): KernelState {
  return withConnected(canonicalState({ ...emptyState(), ...parts }));
}

function adopted(s: KernelState, facts: Parameters<typeof adopt>[1] = {}): string {
  const a = adopt(s, facts);
  if (!a.ok) throw new Error(a.reason);
  return a.text;
}

/** The text with each wrapped comment on one line, so a sentence can be looked for. */
const said = (text: string): string => text.replace(/\n *# /g, " ");

function loaded(text: string): EffectivePolicy {
  const r = loadPolicyTexts([{ file: "adopted.yaml", text }]);
  if (!r.ok) throw new Error(r.diagnostics.map((d) => `${d.pointer}: ${d.summary}`).join("; "));
  expect(r.diagnostics).toEqual([]);
  return r.policy;
}

/**
 * Plans `text` on `s` with every uplink up and applies the ops on the model kernel: the device and
 * gateway general traffic takes before and after, per family.
 */
function routesAround(s: KernelState, text: string) {
  const policy = loaded(text);
  const inputs = plannerInputs(policy, s);
  const pass = planChecked(
    desiredInputOf(inputs, s, allUp(inputs.uplinks.map((u) => u.name))),
    inputs,
    digest(policy),
  );
  if (!pass.ok) throw new Error(pass.error.message);
  const after = applyOps(s, pass.ops);
  if (!after.ok) throw new Error(after.error);
  const hop = (k: KernelState, dst: string) => {
    const r = lookup(k, { dst });
    return r.kind === "route" ? r.nexthops.map((h) => `${h.gateway ?? "-"} ${h.dev}`) : [r.error];
  };
  return generalDestinations(s).map((dst) => ({
    dst,
    before: hop(s, dst),
    after: hop(after.state, dst),
    decidedBy: lookup(after.state, { dst }),
    ops: pass.ops,
  }));
}

/** eth0 (ethernet) at metric 200, wwan0 (LTE) at metric 100: the kernel prefers the modem. */
const twoUplinks = (): KernelState =>
  nodeOf({
    link: [link("eth0", "ethernet", true, 2), link("wwan0", "lte", true, 3)],
    address: [addr("eth0", "198.51.100.2/24"), addr("wwan0", "100.64.2.2/24")],
    route: [mainDefault("eth0", "198.51.100.1", 200), mainDefault("wwan0", "100.64.2.1", 100)],
  });

describe("adopt: two uplinks with metrics", () => {
  const s = twoUplinks();
  const text = adopted(s);

  it("lists the uplinks in the kernel's order, with biases that keep it over the kinds' defaults", () => {
    const p = loaded(text);
    expect(p.uplinks.map((u) => [u.name, u.interface, u.kind, u.bias, u.gateway, u.addressing])).toEqual([
      ["wwan0", "wwan0", "lte", 100, "auto", "external"],
      ["eth0", "eth0", "ethernet", 80, "auto", "external"],
    ]);
    expect(p.selection.strategy).toBe("failover");
    expect(said(text)).toContain("wwan0: general traffic leaves by it now (via 100.64.2.1, metric 100");
    expect(said(text)).toContain("eth0: a default route via 198.51.100.1 in the main table, metric 200");
    expect(text).toMatch(/^# Written by `backhaul adopt`/);
  });

  it("planning on it keeps general traffic on wwan0 via 100.64.2.1, now in backhaul's own table", () => {
    for (const r of routesAround(s, text)) {
      expect(r.after).toEqual(r.before);
      if (!r.dst.includes(":")) {
        expect(r.before).toEqual(["100.64.2.1 wwan0"]);
        // The same route, from backhaul's own active table now instead of the main table.
        expect(r.decidedBy).toMatchObject({ kind: "route", table: 100 });
      }
    }
    expect(checkAdoption(s, text, allUp)).toMatchObject({ ok: true });
  });

  it("without its biases the same policy would move traffic to the ethernet uplink", () => {
    const unbiased = text.replace(/^ {4}bias: \d+\n/gm, "");
    const [v4] = routesAround(s, unbiased);
    expect(v4!.after).toEqual(["198.51.100.1 eth0"]);
    expect(checkAdoption(s, unbiased, allUp)).toMatchObject({
      ok: false,
      reason: expect.stringMatching(
        /goes via 100.64.2.1 dev wwan0 now and would go via 198.51.100.1 dev eth0/,
      ),
    });
  });

  it("is checked under the health asked for: with wwan0 down traffic would move, and the check says so", () => {
    const health = (names: readonly string[]) => ({
      ...allUp(names),
      wwan0: assumedHealth("down", 0),
    });
    expect(checkAdoption(s, text, health)).toMatchObject({ ok: false });
  });
});

describe("adopt: one uplink among interfaces that are not uplinks", () => {
  const bridge: Link = { ...link("br0", "other", true, 3), linkKind: "bridge" };
  const veth: Link = { ...link("veth1", "other", true, 4), linkKind: "veth" };
  const lo: Link = { ...link("lo", "other", true, 1) };
  const s = nodeOf({
    link: [lo, link("eth0", "ethernet", true, 2), bridge, veth],
    address: [addr("eth0", "203.0.113.2/24"), addr("br0", "10.1.0.1/24"), addr("veth1", "10.2.0.1/30")],
    route: [{ ...mainDefault("eth0", "203.0.113.1", 0), protocol: 4 }],
  });
  const text = adopted(s);

  it("adopts the one uplink and names what it left out and why", () => {
    const p = loaded(text);
    expect(p.uplinks.map((u) => u.name)).toEqual(["eth0"]);
    expect(said(text)).toContain(
      "Not uplinks, left out: br0 (bridge: no default route), veth1 (veth: no default route).",
    );
    expect(text).not.toMatch(/\blo\b/);
    expect(said(text)).toContain("set outside backhaul");
  });

  it("keeps general traffic on eth0 via 203.0.113.1, while the bridge's subnet stays local", () => {
    for (const r of routesAround(s, text)) expect(r.after).toEqual(r.before);
    const policy = loaded(text);
    const inputs = plannerInputs(policy, s);
    const pass = planChecked(desiredInputOf(inputs, s, allUp(["eth0"])), inputs, digest(policy));
    if (!pass.ok) throw new Error(pass.error.message);
    const after = applyOps(s, pass.ops);
    if (!after.ok) throw new Error(after.error);
    expect(generalRoute(after.state, "10.1.0.77").nexthops).toEqual([{ dev: "br0" }]);
  });
});

describe("adopt: IPv6", () => {
  const v6default = (dev: string, gateway: string, metric: number): Route => ({
    ...mainDefault(dev, gateway, metric, 6),
    protocol: 9,
  });

  it("a dual-stack uplink: IPv4 is adopted, its IPv6 default stays the kernel's and keeps deciding IPv6", () => {
    const s = nodeOf({
      link: [link("eth0", "ethernet", true, 2), link("wlan0", "wifi", true, 3)],
      address: [
        addr("eth0", "198.51.100.2/24"),
        addr("eth0", "2001:db8:1::2/64", 6),
        addr("wlan0", "203.0.113.2/24"),
        addr("wlan0", "2001:db8:2::2/64", 6),
      ],
      route: [
        mainDefault("eth0", "198.51.100.1", 100),
        mainDefault("wlan0", "203.0.113.1", 600),
        v6default("eth0", "fe80::1", 1024),
        v6default("wlan0", "fe80::2", 2048),
      ],
    });
    const text = adopted(s);
    expect(loaded(text).uplinks.map((u) => u.name)).toEqual(["eth0", "wlan0"]);
    expect(said(text)).toContain("Its IPv6 default route (via fe80::1, metric 1024) stays in the main table");
    const routes = routesAround(s, text);
    expect(routes.map((r) => r.dst.includes(":"))).toEqual([false, true]);
    for (const r of routes) expect(r.after).toEqual(r.before);
    expect(routes[1]!.before).toEqual(["fe80::1 eth0"]);
  });

  it("an interface with only an IPv6 default route is left out, and said to be", () => {
    const s = nodeOf({
      link: [link("eth0", "ethernet", true, 2), link("wlan0", "wifi", true, 3)],
      address: [addr("eth0", "198.51.100.2/24"), addr("wlan0", "2001:db8:2::2/64", 6)],
      route: [mainDefault("eth0", "198.51.100.1", 100), v6default("wlan0", "fe80::2", 1024)],
    });
    const text = adopted(s);
    expect(loaded(text).uplinks.map((u) => u.name)).toEqual(["eth0"]);
    expect(said(text)).toContain("wlan0 (wifi: only an IPv6 default route, which stays as it is)");
    for (const r of routesAround(s, text)) expect(r.after).toEqual(r.before);
  });

  it("a node with IPv6 default routes only has nothing for backhaul to route", () => {
    const s = nodeOf({
      link: [link("eth0", "ethernet", true, 2)],
      address: [addr("eth0", "2001:db8:1::2/64", 6)],
      route: [v6default("eth0", "fe80::1", 1024)],
    });
    expect(adopt(s)).toEqual({
      ok: false,
      reason: expect.stringMatching(/^nothing to adopt: .*only IPv6 ones \(via fe80::1 dev eth0\)/),
    });
  });
});

describe("adopt: DHCP-addressed uplinks", () => {
  it("a DHCP client that is not backhaul's stays in charge of its interface: addressing external, gateway auto", () => {
    const s = twoUplinks();
    const text = adopted(s, { dhcpClients: new Map([["eth0", "dhclient, pid 412"]]) });
    const p = loaded(text);
    expect(p.uplinks.find((u) => u.name === "eth0")).toMatchObject({
      addressing: "external",
      gateway: "auto",
    });
    expect(said(text)).toContain("Addressed by a DHCP client that is not backhaul's (dhclient, pid 412)");
    expect(said(text)).toContain("installed by a DHCP client (proto dhcp)");
    for (const r of routesAround(s, text)) expect(r.after).toEqual(r.before);
  });

  it("backhaul's own DHCP client: addressing dhcp, its state directory kept, the lease's router as gateway", () => {
    const stateDir = "/run/bh-adopt";
    const dir = dhcpDir(stateDir, "host");
    const tether: Link = { ...link("usb0", "usb-tether", true, 3), driver: "rndis_host" };
    const s = nodeOf({
      link: [link("eth0", "ethernet", true, 2), tether],
      address: [addr("eth0", "198.51.100.2/24"), addr("usb0", "100.64.3.100/24")],
      route: [mainDefault("eth0", "198.51.100.1", 100)],
      "dhcp-client": [
        {
          ...dhcpClientOf(dir, "usb0"),
          pid: 4242,
          lease: { address: "100.64.3.100/24", router: "100.64.3.1", dns: [], seconds: 3600 },
        },
      ],
    });
    const text = adopted(s, { stateDir });
    const p = loaded(text);
    expect(p.daemon.stateDir).toBe(stateDir);
    expect(p.uplinks.map((u) => [u.name, u.interface, u.match, u.addressing, u.gateway])).toEqual([
      ["eth0", "eth0", undefined, "external", "auto"],
      ["usb0", undefined, { driver: "rndis_host" }, "dhcp", "auto"],
    ]);
    expect(said(text)).toContain("Addressed by backhaul's own DHCP client");
    expect(said(text)).toContain("usb0: backhaul's DHCP client holds a lease on it with router 100.64.3.1");
    const routes = routesAround(s, text);
    for (const r of routes) expect(r.after).toEqual(r.before);
    // Its client is ours and stays as it runs: the plan neither restarts nor stops it.
    expect(routes[0]!.ops.filter((o) => ("after" in o ? o.after : o.before).kind === "dhcp-client")).toEqual(
      [],
    );
  });
});

describe("adopt: refusals and the check behind them", () => {
  it("nothing to adopt without a default route", () => {
    const s = nodeOf({
      link: [link("eth0", "ethernet", true, 2)],
      address: [addr("eth0", "198.51.100.2/24")],
    });
    expect(adopt(s)).toEqual({
      ok: false,
      reason: expect.stringMatching(/^nothing to adopt: this node has no default route/),
    });
  });

  it("general traffic through a tunnel with no gateway cannot be kept, so it is refused", () => {
    const wg: Link = { ...link("wg0", "other", true, 3), linkKind: "wireguard" };
    const s = nodeOf({
      link: [link("eth0", "ethernet", true, 2), wg],
      address: [addr("eth0", "198.51.100.2/24"), addr("wg0", "10.9.0.2/32")],
      route: [
        mainDefault("eth0", "198.51.100.1", 100),
        { ...mainDefault("wg0", "", 50), gateway: undefined, scope: "link" } as Route,
      ],
    });
    expect(adopt(s)).toMatchObject({
      ok: false,
      reason: expect.stringContaining("leaves by wg0 without a gateway"),
    });
  });

  it("general traffic via an interface without carrier would move: the check refuses it", () => {
    const s = nodeOf({
      link: [link("eth0", "ethernet", false, 2), link("wwan0", "lte", true, 3)],
      address: [addr("eth0", "198.51.100.2/24"), addr("wwan0", "100.64.2.2/24")],
      route: [mainDefault("eth0", "198.51.100.1", 100), mainDefault("wwan0", "100.64.2.1", 200)],
    });
    const text = adopted(s);
    expect(checkAdoption(s, text, allUp)).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/via 198.51.100.1 dev eth0 now and would go via 100.64.2.1 dev wwan0/),
    });
  });

  it("foreign rules and tables in backhaul's default ranges move its own out of their way", () => {
    const foreignRule: Rule = {
      kind: "rule",
      family: 4,
      priority: 1050,
      action: "lookup",
      table: 150,
      protocol: 4,
    };
    const base = twoUplinks();
    const s = canonicalState({
      ...base,
      rule: [...base.rule, foreignRule],
      route: [...base.route, { ...mainDefault("eth0", "198.51.100.1", 0), table: 150, protocol: 4 }],
    });
    const text = adopted(s);
    const p = loaded(text);
    expect(p.routing.tables).toEqual({ min: 300, max: 399 });
    expect(p.routing.priorities).toEqual({ min: 1100, max: 1199 });
    expect(said(text)).toContain("Moved off the default ranges");
    // Rule 1050 decides general traffic now (table 150, via eth0) and still does: ours come after it.
    for (const r of routesAround(s, text)) expect(r.after).toEqual(r.before);
    expect(checkAdoption(s, text, allUp)).toMatchObject({ ok: true });
  });
});
