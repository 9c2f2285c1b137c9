import { describe, expect, it } from "vitest";
import { applyOp, lookup } from "../../../src/core/model-kernel/index.js";
import { addr, link, route, rule, state, sysctl } from "./fixtures.js";

const base = {
  link: [link("eth0"), link("wwan0")],
  address: [addr("eth0", "100.64.1.2/24"), addr("wwan0", "100.64.2.2/24")],
};
const viaEth0 = { gateway: "100.64.1.1", dev: "eth0" };
const viaWwan0 = { gateway: "100.64.2.1", dev: "wwan0" };

describe("lookup", () => {
  it("longest prefix wins over a shorter one", () => {
    const s = state({ ...base, route: [route("0.0.0.0/0", viaEth0), route("203.0.113.0/24", viaWwan0)] });
    const r = lookup(s, { dst: "203.0.113.9" });
    expect(r.kind === "route" && r.nexthops[0]?.dev).toBe("wwan0");
  });
  it("the lowest metric wins among routes for the same prefix", () => {
    const s = state({
      ...base,
      route: [
        route("0.0.0.0/0", { ...viaEth0, metric: 100 }),
        route("0.0.0.0/0", { ...viaWwan0, metric: 50 }),
      ],
    });
    const r = lookup(s, { dst: "203.0.113.9" });
    expect(r.kind === "route" && r.nexthops[0]?.dev).toBe("wwan0");
  });
  it("rules are tried by priority and a source rule sends its address to its table", () => {
    const s = state({
      ...base,
      route: [route("0.0.0.0/0", viaEth0), route("0.0.0.0/0", { ...viaWwan0, table: 101 })],
      rule: [...state({}).rule, rule(1000, { from: "100.64.2.2/32", table: 101 })],
    });
    expect((lookup(s, { dst: "203.0.113.9", src: "100.64.2.2" }) as { table: number }).table).toBe(101);
    expect((lookup(s, { dst: "203.0.113.9" }) as { table: number }).table).toBe(254);
  });
  it("suppress_prefixlength 0 ignores the main table's default but keeps its specific routes", () => {
    const s = state({
      ...base,
      route: [route("0.0.0.0/0", viaEth0), route("0.0.0.0/0", { ...viaWwan0, table: 101 })],
      rule: [...state({}).rule, rule(1000, { suppressPrefixlength: 0 }), rule(1001, { table: 101 })],
    });
    expect((lookup(s, { dst: "203.0.113.9" }) as { table: number }).table).toBe(101);
    const local = lookup(s, { dst: "100.64.1.77" });
    expect(local.kind === "route" && local.table === 254 && local.nexthops[0]?.dev).toBe("eth0");
  });
  it("fwmark with mask selects the rule only for matching marks", () => {
    const s = state({
      ...base,
      route: [route("0.0.0.0/0", viaEth0), route("0.0.0.0/0", { ...viaWwan0, table: 101 })],
      rule: [...state({}).rule, rule(1000, { fwmark: 0x10, fwmask: 0xf0, table: 101 })],
    });
    expect((lookup(s, { dst: "203.0.113.9", mark: 0x13 }) as { table: number }).table).toBe(101);
    expect((lookup(s, { dst: "203.0.113.9", mark: 0x20 }) as { table: number }).table).toBe(254);
  });
  it("not inverts a rule's selectors", () => {
    const s = state({
      ...base,
      rule: [...state({}).rule, rule(1000, { not: true, to: "100.64.0.0/10", action: "prohibit" })],
    });
    expect(lookup(s, { dst: "203.0.113.9" })).toMatchObject({ kind: "error", error: "prohibit", errno: 13 });
    expect(lookup(s, { dst: "100.64.1.9" })).toMatchObject({ kind: "route" });
  });
  it("a throw route continues with the next rule", () => {
    const s = state({
      ...base,
      route: [route("0.0.0.0/0", viaEth0), route("203.0.113.0/24", { table: 101, type: "throw" })],
      rule: [...state({}).rule, rule(1000, { table: 101 })],
    });
    expect((lookup(s, { dst: "203.0.113.9" }) as { table: number }).table).toBe(254);
  });
  it("blackhole, unreachable and prohibit routes answer with their errors", () => {
    for (const [type, errno] of [
      ["blackhole", 22],
      ["unreachable", 113],
      ["prohibit", 13],
    ] as const) {
      const s = state({ ...base, route: [route("203.0.113.0/24", { type })] });
      expect(lookup(s, { dst: "203.0.113.9" })).toMatchObject({ kind: "error", error: type, errno });
    }
  });
  it("goto jumps to the first rule of the target priority", () => {
    const s = state({
      ...base,
      route: [route("0.0.0.0/0", { ...viaWwan0, table: 101 })],
      rule: [
        ...state({}).rule,
        rule(100, { action: "goto", goto: 300, table: undefined }),
        rule(200, { action: "blackhole", table: undefined }),
        rule(300, { table: 101 }),
      ],
    });
    expect((lookup(s, { dst: "203.0.113.9" }) as { table: number }).table).toBe(101);
  });
  it("no matching route anywhere is 'Network is unreachable'", () => {
    expect(lookup(state(base), { dst: "203.0.113.9" })).toMatchObject({
      kind: "error",
      error: "no-route",
      errno: 101,
    });
  });
  it("the node's own address resolves to the local table", () => {
    expect(lookup(state(base), { dst: "100.64.1.2" })).toMatchObject({
      kind: "route",
      type: "local",
      table: 255,
    });
  });
  it("routes through an admin-down device are gone", () => {
    const s = state({
      ...base,
      link: [link("eth0", { adminUp: false }), link("wwan0")],
      route: [route("0.0.0.0/0", { ...viaEth0, metric: 1 }), route("0.0.0.0/0", { ...viaWwan0, metric: 2 })],
    });
    const r = lookup(s, { dst: "203.0.113.9" });
    expect(r.kind === "route" && r.nexthops[0]?.dev).toBe("wwan0");
  });
  it("a route through a device without carrier is still used unless ignore_routes_with_linkdown", () => {
    const routes = [
      route("0.0.0.0/0", { ...viaEth0, metric: 1 }),
      route("0.0.0.0/0", { ...viaWwan0, metric: 2 }),
    ];
    const links = [link("eth0", { carrier: false }), link("wwan0")];
    const used = lookup(state({ ...base, link: links, route: routes }), { dst: "203.0.113.9" });
    expect(used.kind === "route" && used.nexthops[0]).toMatchObject({ dev: "eth0", linkdown: true });
    for (const name of [
      "net.ipv4.conf.all.ignore_routes_with_linkdown",
      "net.ipv4.conf.eth0.ignore_routes_with_linkdown",
    ]) {
      const r = lookup(state({ ...base, link: links, route: routes, sysctl: [sysctl(name)] }), {
        dst: "203.0.113.9",
      });
      expect(r.kind === "route" && r.nexthops[0]?.dev).toBe("wwan0");
    }
  });
  it("multipath lists every usable nexthop", () => {
    const s = state({
      ...base,
      route: [
        route("0.0.0.0/0", {
          nexthops: [
            { ...viaEth0, weight: 1 },
            { ...viaWwan0, weight: 3 },
          ],
        }),
      ],
    });
    const r = lookup(s, { dst: "203.0.113.9" });
    expect(r.kind === "route" && r.nexthops.map((h) => h.dev)).toEqual(["eth0", "wwan0"]);
  });
});

describe("applyOp", () => {
  const s = state({ ...base, route: [route("0.0.0.0/0", viaEth0)] });
  it("adding an existing route fails with File exists", () => {
    expect(applyOp(s, { op: "add", after: route("0.0.0.0/0", viaWwan0) })).toMatchObject({
      ok: false,
      error: "File exists",
    });
  });
  it("deleting a missing route fails", () => {
    expect(applyOp(s, { op: "delete", before: route("203.0.113.0/24", viaEth0) })).toMatchObject({
      ok: false,
    });
  });
  it("a gateway outside every connected subnet needs onlink", () => {
    expect(
      applyOp(s, { op: "add", after: route("203.0.113.0/24", { gateway: "198.51.100.1", dev: "eth0" }) }),
    ).toMatchObject({ ok: false, error: "Nexthop has invalid gateway" });
    expect(
      applyOp(s, {
        op: "add",
        after: route("203.0.113.0/24", { gateway: "198.51.100.1", dev: "eth0", onlink: true }),
      }),
    ).toMatchObject({ ok: true });
  });
  it("a route through a missing device fails", () => {
    expect(applyOp(s, { op: "add", after: route("203.0.113.0/24", { dev: "nope0" }) })).toMatchObject({
      ok: false,
      error: 'Cannot find device "nope0"',
    });
  });
  it("loopback's whole IPv4 prefix is local", () => {
    const s = state({ link: [link("lo")], address: [addr("lo", "127.0.0.1/8")] });
    expect(lookup(s, { dst: "127.0.0.5" })).toMatchObject({ kind: "route", type: "local", table: 255 });
  });
});
