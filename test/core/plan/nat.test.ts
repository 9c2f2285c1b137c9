import { describe, expect, it } from "vitest";
import { steps } from "../../../src/effects/apply/execute.js";
import { objectId } from "../../../src/core/plan/desired.js";
import { computeDesired, type DesiredInput } from "../../../src/core/plan/desired.js";
import { describeObject } from "../../../src/kinds/registry.js";
import { ipv4Subnet, natTable, NatError, type NatParams } from "../../../src/core/plan/nat.js";
import { plan } from "../../../src/core/plan/order.js";
import { describeNat, nftCommands, renderNftBatch, NftRenderError } from "../../../src/kinds/nft/table.js";
import type { NftTable, Op } from "../../../src/kinds/types.js";
import { applyByKey } from "../../../src/core/model-kernel/by-key.js";
import { node, opsOf, ownership, PARAMS, ROUTING, up, UPLINKS } from "../../support/plan-fixtures.js";
import { fc } from "../../support/fc.js";

const NAT: NatParams = { table: "backhaul", hotspotInterface: "wlan1", address: "100.64.50.1/24" };

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

const describeOp = (o: Op): string => describeObject(o.op === "delete" ? o.before : o.after);

describe("hotspot NAT table", () => {
  it("masquerades the hotspot subnet out of each uplink, one rule per interface, in the observer's canonical form", () => {
    const t = natTable(NAT, ["eth0", "wwan0", "usb0"]);
    expect(t).toMatchObject({ kind: "nft-table", family: "inet", name: "backhaul" });
    const rule = (iface: string) => ({
      expr: [
        {
          match: {
            left: { payload: { field: "saddr", protocol: "ip" } },
            op: "==",
            right: { prefix: { addr: "100.64.50.0", len: 24 } },
          },
        },
        { match: { left: { meta: { key: "oifname" } }, op: "==", right: iface } },
        { masquerade: null },
      ],
    });
    expect(JSON.parse(t.body)).toEqual({
      chain: [
        {
          hook: "postrouting",
          name: "postrouting",
          policy: "accept",
          prio: 100,
          rules: [rule("eth0"), rule("wwan0"), rule("usb0")],
          type: "nat",
        },
      ],
    });
    expect(describeObject(t)).toBe(
      "nft table inet backhaul: masquerade 100.64.50.0/24 out eth0, wwan0, usb0",
    );
  });

  it("leaves out the hotspot's own interface and duplicates", () => {
    const t = natTable({ ...NAT, hotspotInterface: "eth0" }, ["eth0", "wwan0", "wwan0"]);
    expect(describeNat(t)).toBe("masquerade 100.64.50.0/24 out wwan0");
  });

  it("refuses hostile or meaningless values before anything is rendered", () => {
    expect(() => natTable(NAT, ['eth0" accept; #'])).toThrow(NatError);
    expect(() => natTable(NAT, ["a".repeat(16)])).toThrow(/not valid/);
    expect(() => natTable({ ...NAT, table: "backhaul; flush ruleset" }, ["eth0"])).toThrow(/table name/);
    expect(() => natTable({ ...NAT, address: "100.64.50.1" }, ["eth0"])).toThrow(/not a CIDR/);
    expect(() => natTable({ ...NAT, address: "2001:db8::1/64" }, ["eth0"])).toThrow(/IPv4 only/);
    expect(() => natTable({ ...NAT, address: "100.64.50.1/32" }, ["eth0"])).toThrow(/1-30/);
    expect(() => natTable({ ...NAT, address: "0.0.0.0/0" }, ["eth0"])).toThrow(/1-30/);
  });

  it("masquerades the network of any IPv4 hotspot address", () => {
    fc.assert(
      fc.property(fc.ipV4(), fc.integer({ min: 1, max: 30 }), (a, len) => {
        const [net, l] = ipv4Subnet(`${a}/${len}`);
        expect(l).toBe(len);
        const bits = (s: string) => s.split(".").reduce((n, o) => n * 256 + Number(o), 0);
        const mask = (0xffffffff << (32 - len)) >>> 0;
        expect(bits(net)).toBe((bits(a) & mask) >>> 0);
      }),
    );
  });
});

describe("desired state with the hotspot NAT", () => {
  it("adds the table and ip_forward=1 only when NAT is given, with reasons", () => {
    expect(computeDesired(input()).state["nft-table"]).toEqual([]);
    const d = computeDesired(input({ nat: NAT }));
    expect(d.state["nft-table"]).toEqual([natTable(NAT, ["eth0", "wlan0", "wwan0"])]);
    expect(d.state.sysctl.filter((s) => s.name === "net.ipv4.ip_forward")).toEqual([
      { kind: "sysctl", name: "net.ipv4.ip_forward", value: "1" },
    ]);
    expect(d.reasons.get(objectId(d.state["nft-table"][0]!))).toContain("hotspot NAT");
  });

  it("plans the table and forwarding as owned objects, and nothing once the kernel holds them", () => {
    const own = { ...ownership(), sysctls: [...ownership().sysctls, "net.ipv4.ip_forward"].sort() };
    const d = computeDesired(input({ nat: NAT }));
    const ops = opsOf(plan(node(), d.state, own));
    expect(ops.filter((o) => o.op === "add" && o.after.kind === "nft-table")).toHaveLength(1);
    expect(ops.filter((o) => o.op !== "delete" && o.after.kind === "sysctl").map(describeOp)).toContain(
      "net.ipv4.ip_forward = 1",
    );
    expect(opsOf(plan(applyByKey(node(), ops), d.state, own))).toEqual([]);
  });
});

describe("nft rendering", () => {
  const t = natTable(NAT, ["eth0"]);
  it("adds a table with its chain before its rules", () => {
    const cmds = nftCommands({ op: "add", after: t }) as Record<string, Record<string, unknown>>[];
    expect(cmds.map((c) => `${Object.keys(c)[0]} ${Object.keys(Object.values(c)[0]!)[0]}`)).toEqual([
      "add table",
      "add chain",
      "add rule",
    ]);
    expect(cmds[2]!["add"]!["rule"]).toMatchObject({
      family: "inet",
      table: "backhaul",
      chain: "postrouting",
    });
  });

  it("changes a table by re-creating it inside one batch, and deletes it by name", () => {
    const other = natTable(NAT, ["wwan0"]);
    const change = nftCommands({ op: "change", before: t, after: other });
    expect(change.slice(0, 3)).toEqual([
      { add: { table: { family: "inet", name: "backhaul" } } },
      { delete: { table: { family: "inet", name: "backhaul" } } },
      { add: { table: { family: "inet", name: "backhaul" } } },
    ]);
    expect(nftCommands({ op: "delete", before: t })).toEqual([
      { delete: { table: { family: "inet", name: "backhaul" } } },
    ]);
    expect(JSON.parse(renderNftBatch([{ op: "delete", before: t }]))).toEqual({
      nftables: [{ delete: { table: { family: "inet", name: "backhaul" } } }],
    });
  });

  it("refuses a bad table name, family or body", () => {
    const bad = (o: Partial<NftTable>): Op => ({ op: "add", after: { ...t, ...o } as NftTable });
    expect(() => nftCommands(bad({ name: "x y" }))).toThrow(NftRenderError);
    expect(() => nftCommands(bad({ family: "inet6" as NftTable["family"] }))).toThrow(/family/);
    expect(() => nftCommands(bad({ body: "{" }))).toThrow(/not JSON/);
    expect(() => nftCommands(bad({ body: '{"chain":[{"rules":[]}]}' }))).toThrow(/without a name/);
  });

  it("puts consecutive nft ops in one step, rendered before anything runs", () => {
    const s = natTable({ ...NAT, table: "other" }, ["eth0"]);
    const ops: Op[] = [
      { op: "add", after: { kind: "sysctl", name: "net.ipv4.ip_forward", value: "1" } },
      { op: "add", after: t },
      { op: "add", after: s },
    ];
    expect(steps(ops).map((x) => [x.tool, x.start])).toEqual([
      ["sysctl", 0],
      ["nft", 1],
    ]);
    expect(steps(ops, 2).map((x) => [x.tool, x.start])).toEqual([
      ["sysctl", 0],
      ["nft", 1],
      ["nft", 2],
    ]);
    expect(() => steps([{ op: "add", after: { ...t, name: "a;b" } }])).toThrow(NftRenderError);
  });
});
