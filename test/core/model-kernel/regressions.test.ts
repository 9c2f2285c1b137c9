// Disagreements the oracle found between the model and Linux 6.x, each pinned as a named case.
import { describe, expect, it } from "vitest";
import { applyOp, lookup } from "../../../src/core/model-kernel/index.js";
import { addr, link, route, rule, state, sysctl } from "./fixtures.js";

describe("oracle regressions", () => {
  it("an unreachable rule answers ENETUNREACH (an unreachable route answers EHOSTUNREACH)", () => {
    const s = state({ rule: [...state({}).rule, rule(100, { action: "unreachable", table: undefined })] });
    expect(lookup(s, { dst: "203.0.113.1" })).toMatchObject({ kind: "error", errno: 101 });
  });
  it("a broadcast route on a device without carrier obeys ignore_routes_with_linkdown", () => {
    const s = state({
      link: [link("u0", { carrier: false })],
      address: [addr("u0", "100.64.1.2/24")],
      sysctl: [sysctl("net.ipv4.conf.all.ignore_routes_with_linkdown")],
    });
    expect(lookup(s, { dst: "100.64.1.255" })).toMatchObject({ kind: "error", error: "no-route" });
  });
  it("a rule with iif lo matches locally generated flows even when the state lists no lo link", () => {
    const s = state({
      rule: [...state({}).rule, rule(100, { iif: "lo", action: "blackhole", table: undefined })],
    });
    expect(lookup(s, { dst: "203.0.113.1" })).toMatchObject({ kind: "error", error: "blackhole" });
  });
  it("IPv6 refuses an on-link gateway that the main table sends through another device", () => {
    const s = state({
      link: [link("u0"), link("u1")],
      route: [route("2001:db8:f000::/36", { dev: "u1", metric: 50, scope: "link" })],
    });
    const r = applyOp(s, {
      op: "add",
      after: route("2001:db8:f000::77/128", {
        table: 100,
        metric: 50,
        gateway: "2001:db8:f000::fe",
        dev: "u0",
        onlink: true,
      }),
    });
    expect(r).toMatchObject({ ok: false, error: "Nexthop has invalid gateway or device mismatch." });
  });
  it("IPv6 validates a gateway in the route's own table first and refuses a match with a gateway", () => {
    const s = state({
      link: [link("u0"), link("u1")],
      address: [addr("u0", "2001:db8:1::2/64"), addr("u1", "2001:db8:2::2/64")],
      route: [route("2001:db8::/32", { table: 100, metric: 1024, gateway: "2001:db8:2::1", dev: "u1" })],
    });
    const r = applyOp(s, {
      op: "add",
      after: route("2001:db8:f000::/48", { table: 100, metric: 1024, gateway: "2001:db8:1::1", dev: "u0" }),
    });
    expect(r).toMatchObject({ ok: false, error: "Nexthop has invalid gateway" });
  });
  it("IPv4 bound to a device assumes the destination is on that link when the tables have no answer", () => {
    const s = state({ link: [link("u0")], route: [route("203.0.113.0/24", { type: "blackhole" })] });
    const r = lookup(s, { dst: "203.0.113.9", oif: "u0" });
    expect(r.kind === "route" && r.table === 254 && r.nexthops.map((h) => [h.dev, h.gateway])).toEqual([
      ["u0", undefined],
    ]);
  });
  it("IPv4 bound to a down device is unreachable before any rule", () => {
    const s = state({ link: [link("u0", { adminUp: false })] });
    expect(lookup(s, { dst: "203.0.113.9", oif: "u0" })).toMatchObject({ kind: "error", errno: 101 });
  });
  it("IPv6 bound to a device passes over reject routes (they belong to lo)", () => {
    const s = state({
      link: [link("u0")],
      route: [
        route("2001:db8:f000::/48", { type: "unreachable", metric: 50 }),
        route("2001:db8:f000::/36", { gateway: "2001:db8:f000::fe", dev: "u0", onlink: true, metric: 1024 }),
      ],
    });
    expect(lookup(s, { dst: "2001:db8:f000::1" })).toMatchObject({ kind: "error", error: "unreachable" });
    const r = lookup(s, { dst: "2001:db8:f000::1", oif: "u0" });
    expect(r.kind === "route" && r.nexthops[0]?.dev).toBe("u0");
  });
  it("a local address of another device does not answer a flow bound to a device", () => {
    const s = state({ link: [link("u0"), link("u1")], address: [addr("u1", "2001:db8:2::2/64")] });
    expect(lookup(s, { dst: "2001:db8:2::2", oif: "u0" })).toMatchObject({
      kind: "error",
      error: "no-route",
    });
  });
});
