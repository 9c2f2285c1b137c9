import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { canonicalJson, digest } from "../../src/util/canonical.js";
import { canonicalState, isOwned, keyOf, ownedState } from "../../src/kinds/registry.js";
import { emptyState, type Ownership, type Route, type Rule } from "../../src/kinds/types.js";

const own: Ownership = {
  protocol: 99,
  tables: { min: 100, max: 199 },
  priorities: { min: 1000, max: 1999 },
  qosInterfaces: ["eth0"],
  nftTable: { family: "inet", name: "backhaul" },
  sysctls: ["net.ipv4.ip_forward"],
  uplinkInterfaces: [],
  addresses: [],
};

const route = (over: Partial<Route>): Route => ({
  kind: "route",
  family: 4,
  table: 100,
  type: "unicast",
  dst: "0.0.0.0/0",
  metric: 0,
  protocol: 99,
  scope: "global",
  gateway: "198.51.100.1",
  dev: "eth0",
  ...over,
});

describe("canonical JSON", () => {
  it("is independent of key order and drops undefined members", () => {
    expect(canonicalJson({ b: 1, a: { d: undefined, c: 2 } })).toBe('{"a":{"c":2},"b":1}');
  });
  it("keeps a __proto__ key as data", () => {
    expect(canonicalJson(JSON.parse('{"__proto__":{"a":1},"b":2}'))).toBe('{"__proto__":{"a":1},"b":2}');
  });
  it("gives equal digests for objects that differ only in key order", () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.integer()), (d) => {
        const reversed = Object.fromEntries(Object.entries(d).reverse());
        expect(digest(reversed)).toBe(digest(d));
      }),
    );
  });
});

describe("kind descriptions", () => {
  it("key a route by family, table, destination and metric only", () => {
    expect(keyOf(route({}))).toBe(keyOf(route({ gateway: "203.0.113.1", dev: "wwan0" })));
    expect(keyOf(route({}))).not.toBe(keyOf(route({ metric: 10 })));
  });
  it("own a route only with our protocol inside our table range", () => {
    expect(isOwned(route({}), own)).toBe(true);
    expect(isOwned(route({ protocol: 4 }), own)).toBe(false);
    expect(isOwned(route({ table: 254 }), own)).toBe(false);
  });
  it("own a rule only with our protocol inside our priority range", () => {
    const rule: Rule = {
      kind: "rule",
      family: 4,
      priority: 1000,
      action: "lookup",
      table: 100,
      protocol: 99,
    };
    expect(isOwned(rule, own)).toBe(true);
    expect(isOwned({ ...rule, priority: 32766 }, own)).toBe(false);
    expect(isOwned({ ...rule, protocol: 0 }, own)).toBe(false);
  });
  it("filter a state down to owned objects and sort it by key", () => {
    const s = {
      ...emptyState(),
      route: [route({ table: 101 }), route({ table: 254 }), route({ table: 100 })],
    };
    expect(ownedState(canonicalState(s), own).route.map((r) => r.table)).toEqual([100, 101]);
  });
});
