import { describe, expect, it } from "vitest";
import { driftItems, summarizeDrift } from "../../src/core/drift.js";
import { canonicalState, ownedState } from "../../src/kinds/registry.js";
import type { KernelState, Route, Rule } from "../../src/kinds/types.js";
import { addr, link, merge, node } from "../support/plan-fixtures.js";
import { emptyState } from "../../src/kinds/registry.js";
import { parseNftTables } from "../../src/kinds/nft/table.js";
import { patchLink } from "../../src/core/decide/fast-path.js";
import { plannerInputs } from "../../src/core/plan/inputs.js";
import {
  fullPass,
  happen,
  policyOf,
  startSim,
  withConnected,
  type WorldEvent,
} from "../support/daemon-sim.js";

const POLICY = `
uplinks:
  - {name: fibre, interface: eth0, kind: ethernet}
  - {name: lte, interface: wwan0, kind: lte}
probes:
  targets: [tcp://192.0.2.10:443]
  interval: 1s
  timeout: 500ms
  holdDown: {probingToUp: 2s}
`;

/** A node the daemon has converged: the kernel, what it wants, whose is whose. */
function converged() {
  const sim = startSim(policyOf(POLICY), withConnected(node()), Date.UTC(2026, 11, 6));
  fullPass(sim, "start");
  const rounds = Array.from({ length: 30 }, (_, i): WorldEvent => ({
    dt: 300,
    type: "round",
    iface: i % 2 ? "eth0" : "wwan0",
  }));
  for (const r of rounds) happen(sim, r);
  const own = sim.state.inputs!.ownership;
  return { kernel: sim.kernel, desired: ownedState(sim.kernel, own), own };
}
const flows = { uplinkSources: ["198.51.100.2", "100.64.0.2"] };
const add = (k: KernelState, o: { rule?: Rule[]; route?: Route[] }): KernelState =>
  canonicalState({ ...k, rule: [...k.rule, ...(o.rule ?? [])], route: [...k.route, ...(o.route ?? [])] });
const foreignRule = (priority: number, table: number): Rule => ({
  kind: "rule",
  family: 4,
  priority,
  action: "lookup",
  table,
  protocol: 0,
});

describe("drift between the kernel and the desired state", () => {
  it("finds none on a converged node", () => {
    const c = converged();
    expect(driftItems(c.kernel, c.desired, c.own, flows)).toEqual([]);
  });

  it("classes our objects gone, altered and unwanted as missing, changed and extra", () => {
    const c = converged();
    const ours = c.kernel.route.filter((r) => r.protocol === c.own.protocol);
    const altered = ours.find((r) => r.gateway !== undefined)!;
    const gone = ours.find((r) => r !== altered)!;
    const unwanted: Route = {
      ...ours[0]!,
      table: c.own.tables.max,
      dst: "192.0.2.0/24",
      gateway: undefined,
      scope: "link",
    };
    const kernel = canonicalState({
      ...c.kernel,
      route: [
        ...c.kernel.route.filter((r) => r !== gone && r !== altered),
        { ...altered, gateway: altered.gateway!.replace(/\.1$/, ".9") },
        unwanted,
      ],
    });
    const items = driftItems(kernel, c.desired, c.own, flows);
    expect(summarizeDrift(items)).toMatchObject({ missing: 1, changed: 1, extra: 1, conflict: 0 });
    expect(items.find((i) => i.class === "changed")?.expected).toEqual(altered);
    expect(items.find((i) => i.class === "missing")?.expected).toEqual(gone);
    expect(items.find((i) => i.class === "extra")?.actual).toEqual(unwanted);
  });

  it("never counts tracked flows as drift: traffic makes and ends them", () => {
    const c = converged();
    const nat = {
      kind: "conntrack" as const,
      family: 4 as const,
      address: "100.64.0.2",
      source: "100.64.50.10",
      iface: "wwan0",
      flows: 1,
    };
    expect(driftItems({ ...c.kernel, conntrack: [nat] }, c.desired, c.own, flows)).toEqual([]);
    expect(driftItems(c.kernel, { ...c.desired, conntrack: [nat] }, c.own, flows)).toEqual([]);
  });

  it("names a foreign rule that catches general traffic before ours as a conflict", () => {
    const c = converged();
    const wwanDefault = c.kernel.route.find(
      (r) => r.table === 254 && r.dev === "wwan0" && r.dst === "0.0.0.0/0",
    )!;
    const kernel = add(c.kernel, { rule: [foreignRule(500, 250)], route: [{ ...wwanDefault, table: 250 }] });
    const items = driftItems(kernel, c.desired, c.own, flows);
    expect(items.map((i) => [i.class, i.kind])).toEqual([["conflict", "rule"]]);
    expect(items[0]!.actual).toMatchObject({ priority: 500 });
    expect(items[0]!.detail).toMatch(/decides traffic to .* instead of ours/);
  });

  it("does not call a foreign rule a conflict when it changes nothing ours decides", () => {
    const c = converged();
    // A rule for one destination network only: general traffic still goes by our rules.
    const kernel = add(c.kernel, { rule: [{ ...foreignRule(500, 250), to: "10.99.0.0/16" }] });
    expect(driftItems(kernel, c.desired, c.own, flows)).toEqual([]);
  });

  it("reports a foreign object holding the place of one of ours as a conflict, not as a change", () => {
    const c = converged();
    const ours = c.kernel.route.find((r) => r.protocol === c.own.protocol && r.dst === "0.0.0.0/0")!;
    const kernel = canonicalState({
      ...c.kernel,
      route: [...c.kernel.route.filter((r) => r !== ours), { ...ours, protocol: 4 }],
    });
    const items = driftItems(kernel, c.desired, c.own, flows);
    expect(items.filter((i) => i.class === "conflict")).toEqual([
      expect.objectContaining({ kind: "route", expected: ours, actual: { ...ours, protocol: 4 } }),
    ]);
    expect(items.filter((i) => i.class === "missing" || i.class === "changed")).toEqual([]);
  });

  it("counts nothing of an interface that has gone as drift: a matched tether unplugged is not ours any more", () => {
    const text = POLICY.replace(
      "{name: lte, interface: wwan0, kind: lte}",
      "{name: lte, match: {name: 'wwan*'}, kind: lte}",
    );
    const sim = startSim(policyOf(text), withConnected(node()), Date.UTC(2026, 11, 6));
    fullPass(sim, "start");
    for (let i = 0; i < 30; i++) happen(sim, { dt: 300, type: "round", iface: i % 2 ? "eth0" : "wwan0" });
    const baseline = ownedState(sim.kernel, sim.state.inputs!.ownership);
    expect(baseline.sysctl.map((x) => x.name)).toContain("net.ipv4.conf.wwan0.rp_filter");
    const unplugged = patchLink(sim.kernel, {
      ifname: "wwan0",
      deleted: true,
      adminUp: false,
      carrier: false,
    });
    const own = plannerInputs(policyOf(text), unplugged).ownership;
    const items = driftItems(unplugged, baseline, own, flows);
    expect(items.filter((d) => d.key.includes("wwan0"))).toEqual([]);
  });

  describe("a foreign packet filter against what our NAT forwards", () => {
    const HOTSPOT = `${POLICY}hotspot:
  interface: ap0
  activate: always
  driver: wired
  security: open
  address: 100.64.50.1/24
`;
    /** A node converged with its hotspot up: our NAT masquerades 100.64.50.0/24 out of the uplinks. */
    function withHotspot() {
      const k = merge(withConnected(node()), {
        ...emptyState(),
        link: [link("ap0", "wifi", true, 9)],
        address: [addr("ap0", "100.64.50.1/24")],
      });
      const sim = startSim(policyOf(HOTSPOT), k, Date.UTC(2026, 11, 6));
      fullPass(sim, "start");
      for (let i = 0; i < 30; i++) happen(sim, { dt: 300, type: "round", iface: i % 2 ? "eth0" : "wwan0" });
      const own = sim.state.inputs!.ownership;
      expect(sim.kernel["nft-table"]).toHaveLength(1);
      return { kernel: sim.kernel, desired: ownedState(sim.kernel, own), own };
    }
    const foreign = (chainBody: object, ...rules: object[][]) =>
      parseNftTables({
        nftables: [
          { table: { family: "inet", name: "firewall", handle: 1 } },
          { chain: { family: "inet", table: "firewall", name: "forward", handle: 1, ...chainBody } },
          ...rules.map((expr, i) => ({
            rule: { family: "inet", table: "firewall", chain: "forward", handle: i + 2, expr },
          })),
        ],
      });
    const withTables = (k: KernelState, t: KernelState["nft-table"]): KernelState =>
      canonicalState({ ...k, "nft-table": [...k["nft-table"], ...t] });
    const FORWARD = { type: "filter", hook: "forward", prio: 0 };
    const fromHotspot = { match: { op: "==", left: { meta: { key: "iifname" } }, right: "ap0" } };

    it("names a foreign forward chain that drops the hotspot's traffic as a conflict, with the rule", () => {
      const c = withHotspot();
      const t = foreign({ ...FORWARD, policy: "accept" }, [fromHotspot, { drop: null }]);
      const items = driftItems(withTables(c.kernel, t), c.desired, c.own, flows);
      expect(items).toEqual([
        expect.objectContaining({ class: "conflict", kind: "nft-table", key: "inet firewall", actual: t[0] }),
      ]);
      expect(items[0]!.detail).toMatch(
        /^foreign nft table inet firewall drops what we forward: chain forward, rule 1, drops 100\.64\.50\.2 \(ap0\) → .* out eth0$/,
      );
      // A policy drop is one too.
      const byPolicy = foreign({ ...FORWARD, policy: "drop" });
      expect(driftItems(withTables(c.kernel, byPolicy), c.desired, c.own, flows)[0]!.detail).toMatch(
        /chain forward, its policy drop/,
      );
    });

    it("does not call a filter a conflict when it lets the hotspot's new connections through, or may", () => {
      const c = withHotspot();
      const accepting = foreign({ ...FORWARD, policy: "drop" }, [fromHotspot, { accept: null }]);
      const onlyOthers = foreign({ ...FORWARD, policy: "accept" }, [
        { match: { op: "==", left: { meta: { key: "iifname" } }, right: "eth9" } },
        { drop: null },
      ]);
      const maybe = foreign({ ...FORWARD, policy: "accept" }, [
        { match: { op: "==", left: { meta: { key: "mark" } }, right: 1 } },
        { drop: null },
      ]);
      const inputOnly = foreign({ type: "filter", hook: "input", prio: 0, policy: "drop" });
      for (const t of [accepting, onlyOthers, maybe, inputOnly])
        expect(driftItems(withTables(c.kernel, t), c.desired, c.own, flows)).toEqual([]);
    });

    it("judges no filter when there is no NAT of ours: nothing is forwarded", () => {
      const c = converged();
      const t = foreign({ ...FORWARD, policy: "drop" });
      expect(driftItems(withTables(c.kernel, t), c.desired, c.own, flows)).toEqual([]);
    });
  });
});
