import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { DISRUPTIONS } from "../../src/kinds/driver.js";
import {
  BUILD_ORDER,
  CLEANUP_KINDS,
  DRIVERS,
  KIND_NAMES,
  SUPERVISED_KINDS,
  TRANSIENT_KINDS,
  emptyState,
  splitIndependent,
  settledState,
  stateFromFile,
} from "../../src/kinds/registry.js";

const schema = JSON.parse(
  readFileSync(new URL("../../schemas/plan.schema.json", import.meta.url), "utf8"),
) as {
  $defs: Record<
    string,
    { enum?: unknown[]; oneOf?: { $ref: string }[]; properties?: { kind?: { const?: string } } }
  >;
};

describe("the kind registry", () => {
  it("holds one driver per kind, each under its own kind name", () => {
    for (const k of KIND_NAMES) expect(DRIVERS[k].kind).toBe(k);
    expect(Object.keys(emptyState())).toEqual([...KIND_NAMES]);
  });

  it("matches the plan schema: its kind enum, one object definition per kind, and the disruption classes", () => {
    expect(schema.$defs["kind"]?.enum).toEqual([...KIND_NAMES]);
    expect(schema.$defs["object"]?.oneOf?.map((r) => r.$ref)).toEqual(KIND_NAMES.map((k) => `#/$defs/${k}`));
    for (const k of KIND_NAMES) expect(schema.$defs[k]?.properties?.kind?.const).toBe(k);
    expect(schema.$defs["disruption"]?.enum).toEqual([...DISRUPTIONS]);
  });

  it("orders builds by distinct ranks: links and addresses before routes, routes before the rules that use them", () => {
    const ranks = KIND_NAMES.map((k) => DRIVERS[k].rank);
    expect(new Set(ranks).size).toBe(ranks.length);
    const at = (k: (typeof KIND_NAMES)[number]): number => BUILD_ORDER.indexOf(k);
    expect(at("link")).toBeLessThan(at("address"));
    expect(at("address")).toBeLessThan(at("route"));
    expect(at("route")).toBeLessThan(at("rule"));
    expect(at("qdisc")).toBeLessThan(at("class"));
    expect(at("class")).toBeLessThan(at("filter"));
  });

  it("cleans up exactly the kinds whose drivers remove their objects: never links, addresses or sysctls", () => {
    expect(CLEANUP_KINDS).toEqual(KIND_NAMES.filter((k) => DRIVERS[k].cleanup === "remove"));
    for (const k of ["link", "address", "sysctl"] as const) expect(CLEANUP_KINDS).not.toContain(k);
    for (const k of ["rule", "route", "qdisc", "class", "filter", "nft-table"] as const)
      expect(CLEANUP_KINDS).toContain(k);
  });

  it("supervises only processes it starts and stops itself, and removes them on cleanup", () => {
    expect(SUPERVISED_KINDS).toEqual(["hostapd", "dnsmasq", "dhcp-client"]);
    for (const k of SUPERVISED_KINDS) {
      expect(DRIVERS[k].command.tool, k).toBe("service");
      expect(CLEANUP_KINDS, k).toContain(k);
    }
  });

  it("leaves only tracked flows, which traffic makes, out of what verification and drift compare", () => {
    expect(TRANSIENT_KINDS).toEqual(["conntrack"]);
    expect(BUILD_ORDER[BUILD_ORDER.length - 1]).not.toBe("conntrack");
    // Lowest rank: its deletes run after every other teardown.
    expect(BUILD_ORDER[0]).toBe("conntrack");
    const nat = {
      kind: "conntrack" as const,
      family: 4 as const,
      address: "100.64.1.2",
      source: "100.64.50.10",
      iface: "eth0",
      flows: 1,
    };
    expect(settledState({ ...emptyState(), conntrack: [nat] })).toEqual(emptyState());
  });

  it("reads a state from a file of an earlier version with the kinds added since empty, and refuses what is none", () => {
    const { conntrack: _, ...older } = emptyState();
    expect(stateFromFile(older)).toEqual(emptyState());
    expect(stateFromFile({})).toBeUndefined();
    expect(stateFromFile({ ...emptyState(), route: "x" })).toBeUndefined();
    expect(stateFromFile([])).toBeUndefined();
  });

  it("splits the ops of kinds no route depends on from the rest, each part in its order", () => {
    const rule = {
      op: "add" as const,
      after: {
        kind: "rule" as const,
        family: 4 as const,
        priority: 1000,
        action: "lookup" as const,
        table: 100,
        protocol: 201,
      },
    };
    const server = {
      op: "delete" as const,
      before: { kind: "dnsmasq" as const, iface: "wlan0", argv: ["dnsmasq"] },
    };
    expect(splitIndependent([server, rule])).toEqual({ main: [rule], side: [server] });
    expect(KIND_NAMES.filter((k) => DRIVERS[k].independent === true)).toEqual(["hostapd", "dnsmasq"]);
  });

  it("gives every kind a distinct place in show's output", () => {
    const places = KIND_NAMES.map((k) => DRIVERS[k].show.place);
    expect(new Set(places).size).toBe(places.length);
  });
});
