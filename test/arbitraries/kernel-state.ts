// fast-check arbitraries for kernel states the real kernel accepts: veth-like links with admin and
// carrier state, addresses in shared and documentation space, owned and foreign rules and routes,
// multipath, linkdown sysctls. Reusable by any test (the planner's properties, the oracle).
import fc from "fast-check";
import { canonicalState, keyOf } from "../../src/kinds/registry.js";
import type {
  Address,
  Family,
  KernelState,
  Link,
  Nexthop,
  Route,
  Rule,
  Sysctl,
} from "../../src/kinds/types.js";
import { emptyState } from "../../src/kinds/types.js";
import { defaultRules } from "../../src/core/model-kernel/kernel.js";
import { loadableState } from "../../src/core/model-kernel/load.js";

/** Ownership numbers the generated states use for "our" objects. */
export const GEN_OWNED = {
  protocol: 200,
  tables: { min: 100, max: 199 },
  priorities: { min: 1000, max: 1999 },
};
export const GEN_FOREIGN_PROTOCOLS = [3, 4, 16] as const;

export const LINK_NAMES = ["u0", "u1", "u2", "u3"] as const;

/** Link i's subnets: 100.64.(i+1).0/24 and 2001:db8:(i+1)::/64, the node at .2/::2, its gateway at .1/::1. */
export function linkSubnet(i: number, f: Family): { address: string; gateway: string; prefix: string } {
  i += 1;
  return f === 4
    ? { address: `100.64.${i}.2/24`, gateway: `100.64.${i}.1`, prefix: `100.64.${i}.0/24` }
    : { address: `2001:db8:${i}::2/64`, gateway: `2001:db8:${i}::1`, prefix: `2001:db8:${i}::/64` };
}

/** Route destinations: never more specific than a link subnet that holds a gateway (the kernel would refuse the gateway). */
export const DST_POOL: Readonly<Record<Family, readonly string[]>> = {
  4: [
    "0.0.0.0/0",
    "203.0.113.0/24",
    "203.0.113.0/25",
    "203.0.113.128/25",
    "203.0.113.64/26",
    "203.0.113.77/32",
    "198.51.100.0/24",
    "198.51.100.0/28",
    "100.64.0.0/10",
    "100.64.0.0/16",
  ],
  6: [
    "::/0",
    "2001:db8::/32",
    "2001:db8:f000::/36",
    "2001:db8:f000::/48",
    "2001:db8:f001::/48",
    "2001:db8:f000:1::/64",
    "2001:db8:f000::77/128",
  ],
};

/** Destinations the oracle asks about: inside, between and outside the pools, own addresses, broadcasts. */
export const PROBE_DSTS: Readonly<Record<Family, readonly string[]>> = {
  4: [
    "203.0.113.1",
    "203.0.113.77",
    "203.0.113.100",
    "203.0.113.130",
    "203.0.113.70",
    "198.51.100.5",
    "198.51.100.200",
    "100.64.0.9",
    "100.64.1.9",
    "100.64.2.2",
    "100.64.3.77",
    "100.64.4.1",
    "100.64.1.255",
    "100.100.1.1",
  ],
  6: [
    "2001:db8:f000::1",
    "2001:db8:f000::77",
    "2001:db8:f000:1::5",
    "2001:db8:f001::9",
    "2001:db8:f800::1",
    "2001:db8:0:1::9",
    "2001:db8:1::9",
    "2001:db8:2::2",
    "2001:db8:3::1234",
    "3fff::1",
  ],
};

const TABLES = [100, 101, 102, 200, 254] as const;
const METRICS: Readonly<Record<Family, readonly number[]>> = { 4: [0, 50, 100, 1024], 6: [50, 256, 1024] };

const linkArb = (name: string, index: number): fc.Arbitrary<Link> =>
  fc
    .record({ adminUp: fc.boolean(), carrier: fc.boolean(), upBias: fc.boolean() })
    .map(({ adminUp, carrier, upBias }) => {
      const up = adminUp || upBias;
      return {
        kind: "link" as const,
        name,
        index,
        linkClass: "ethernet" as const,
        adminUp: up,
        carrier,
        operState: !up ? "down" : carrier ? "up" : "lowerlayerdown",
        mtu: 1500,
      };
    });

interface Topology {
  readonly links: readonly Link[];
  /** Families with an address, per link index. */
  readonly addressed: ReadonlyArray<Readonly<Record<Family, boolean>>>;
}

const topologyArb: fc.Arbitrary<Topology> = fc.integer({ min: 1, max: LINK_NAMES.length }).chain((n) =>
  fc.record({
    links: fc.tuple(...LINK_NAMES.slice(0, n).map((name, i) => linkArb(name, i + 2))),
    addressed: fc.array(fc.record({ 4: fc.nat(9).map((x) => x > 0), 6: fc.nat(9).map((x) => x > 0) }), {
      minLength: n,
      maxLength: n,
    }),
  }),
);

function addressesOf(t: Topology): Address[] {
  const out: Address[] = [];
  t.links.forEach((l, i) => {
    for (const f of [4, 6] as const)
      if (t.addressed[i]![f])
        out.push({
          kind: "address",
          family: f,
          dev: l.name,
          local: linkSubnet(i, f).address,
          scope: "global",
        });
  });
  return out;
}

const protocolArb = fc.oneof(fc.constant(GEN_OWNED.protocol), fc.constantFrom(...GEN_FOREIGN_PROTOCOLS));

function nexthopArb(t: Topology, f: Family): fc.Arbitrary<Nexthop> {
  return fc
    .record({
      i: fc.nat(t.links.length - 1),
      how: fc.constantFrom("gateway", "gateway", "onlink", "dev"),
      weight: fc.integer({ min: 1, max: 4 }),
    })
    .map(({ i, how, weight }) => {
      const l = t.links[i]!;
      const hasAddr = t.addressed[i]![f];
      // A gateway needs a connected subnet on its device, else it must be declared on-link.
      if (how === "dev") return { dev: l.name, weight };
      if (how === "gateway" && hasAddr) return { dev: l.name, gateway: linkSubnet(i, f).gateway, weight };
      return { dev: l.name, gateway: f === 4 ? "203.0.113.254" : "2001:db8:f000::fe", weight, onlink: true };
    });
}

function routeArb(t: Topology, f: Family): fc.Arbitrary<Route> {
  const base = fc.record({
    table: fc.constantFrom(...TABLES),
    dst: fc.constantFrom(...DST_POOL[f]),
    metric: fc.constantFrom(...METRICS[f]),
    protocol: protocolArb,
  });
  const special = fc.constantFrom("blackhole", "unreachable", "prohibit", "throw") as fc.Arbitrary<
    Route["type"]
  >;
  const kinds: fc.WeightedArbitrary<
    [typeof base extends fc.Arbitrary<infer B> ? B : never, Nexthop | Nexthop[] | Route["type"]]
  >[] = [
    { weight: 6, arbitrary: fc.tuple(base, nexthopArb(t, f)) },
    { weight: 2, arbitrary: fc.tuple(base, special) },
  ];
  // Multipath needs two devices: one nexthop per device.
  if (t.links.length > 1)
    kinds.push({
      weight: 2,
      arbitrary: fc.tuple(
        base,
        fc.uniqueArray(nexthopArb(t, f), { minLength: 2, maxLength: 3, selector: (h) => h.dev }),
      ),
    });
  return fc.oneof(...kinds).map(([b, x]): Route => {
    const common = { kind: "route" as const, family: f, ...b };
    if (typeof x === "string") return { ...common, type: x, scope: "global" };
    if (Array.isArray(x)) {
      // The kernel treats a multipath route of one usable hop like any other; keep real multipath (gateways on all hops).
      const hops = x.map((h) =>
        h.gateway === undefined
          ? { ...h, gateway: f === 4 ? "203.0.113.254" : "2001:db8:f000::fe", onlink: true }
          : h,
      );
      return { ...common, type: "unicast", scope: "global", nexthops: hops };
    }
    const h = x as Nexthop;
    return {
      ...common,
      type: "unicast",
      scope: h.gateway === undefined ? "link" : "global",
      dev: h.dev,
      ...(h.gateway !== undefined ? { gateway: h.gateway } : {}),
      ...(h.onlink ? { onlink: true } : {}),
    };
  });
}

function ruleArb(t: Topology, f: Family): fc.Arbitrary<Rule> {
  const names = t.links.map((l) => l.name);
  const own = t.links.map((_, i) => linkSubnet(i, f).prefix);
  const prefixes = [...own, ...DST_POOL[f].filter((p) => !p.endsWith("/0"))];
  const opt = <T>(a: fc.Arbitrary<T>, freq = 4): fc.Arbitrary<T | undefined> =>
    fc.option(a, { freq, nil: undefined });
  return fc
    .record({
      priority: fc.oneof(
        fc.integer({ min: 100, max: 999 }),
        fc.integer({ min: GEN_OWNED.priorities.min, max: GEN_OWNED.priorities.max }),
      ),
      not: fc.nat(9).map((x) => x === 0),
      from: opt(fc.constantFrom(...prefixes), 2),
      to: opt(fc.constantFrom(...prefixes)),
      iif: opt(fc.constantFrom("lo", ...names), 6),
      oif: opt(fc.constantFrom(...names), 8),
      fw: opt(fc.record({ mark: fc.integer({ min: 1, max: 3 }), mask: opt(fc.constantFrom(0xff, 0x1), 2) })),
      action: fc.constantFrom(
        "lookup",
        "lookup",
        "lookup",
        "lookup",
        "goto",
        "blackhole",
        "unreachable",
        "prohibit",
        "nop",
      ),
      table: fc.constantFrom(...TABLES),
      suppress: opt(fc.constantFrom(0, 0, 16, f === 4 ? 24 : 48), 3),
      gotoGap: fc.integer({ min: 1, max: 500 }),
      protocol: protocolArb,
    })
    .map((r): Rule => ({
      kind: "rule",
      family: f,
      priority: r.priority,
      ...(r.not ? { not: true } : {}),
      ...(r.from !== undefined ? { from: r.from } : {}),
      ...(r.to !== undefined ? { to: r.to } : {}),
      ...(r.iif !== undefined ? { iif: r.iif } : {}),
      ...(r.oif !== undefined ? { oif: r.oif } : {}),
      ...(r.fw !== undefined
        ? { fwmark: r.fw.mark, ...(r.fw.mask !== undefined ? { fwmask: r.fw.mask } : {}) }
        : {}),
      action: r.action as Rule["action"],
      ...(r.action === "lookup"
        ? { table: r.table, ...(r.suppress !== undefined ? { suppressPrefixlength: r.suppress } : {}) }
        : {}),
      ...(r.action === "goto" ? { goto: r.priority + r.gotoGap } : {}),
      protocol: r.protocol,
    }));
}

function sysctlArb(t: Topology): fc.Arbitrary<Sysctl[]> {
  const names = [4, 6].flatMap((f) =>
    ["all", ...t.links.map((l) => l.name)].map((d) => `net.ipv${f}.conf.${d}.ignore_routes_with_linkdown`),
  );
  return fc
    .subarray(names, { maxLength: 2 })
    .map((ns) => ns.map((name) => ({ kind: "sysctl" as const, name, value: "1" })));
}

export interface StateSize {
  readonly maxRoutes?: number;
  readonly maxRules?: number;
}

/** A kernel state the real kernel accepts when loaded with renderState into an empty namespace. */
export function kernelStateArb(size: StateSize = {}): fc.Arbitrary<KernelState> {
  const maxRoutes = size.maxRoutes ?? 12;
  const maxRules = size.maxRules ?? 5;
  return topologyArb.chain((t) =>
    fc
      .record({
        r4: fc.uniqueArray(routeArb(t, 4), { maxLength: maxRoutes, selector: keyOf }),
        r6: fc.uniqueArray(routeArb(t, 6), { maxLength: maxRoutes, selector: keyOf }),
        u4: fc.uniqueArray(ruleArb(t, 4), { maxLength: maxRules, selector: keyOf }),
        u6: fc.uniqueArray(ruleArb(t, 6), { maxLength: maxRules, selector: keyOf }),
        sysctl: sysctlArb(t),
      })
      // Keep only what the kernel accepts (the model decides: the oracle checks it agrees).
      .map(
        ({ r4, r6, u4, u6, sysctl }) =>
          loadableState(
            canonicalState({
              ...emptyState(),
              link: [...t.links],
              address: addressesOf(t),
              route: [...r4, ...r6],
              rule: [...defaultRules(), ...u4, ...u6],
              sysctl,
            }),
          ).state,
      ),
  );
}

/** Source of forwarded flows: an address that is no node's own. */
export const FOREIGN_SOURCE: Readonly<Record<Family, string>> = {
  4: "198.51.100.50",
  6: "2001:db8:f001::50",
};

export interface ProbeQuery {
  readonly dst: string;
  readonly src?: string;
  readonly mark?: number;
  readonly oif?: string;
  readonly iif?: string;
}

/**
 * Flows to ask about in a state: probe destinations, with and without an own source, with and without a
 * mark, bound to each link (oif), and arriving on each up link from a foreign source (iif, forwarded).
 */
export function probeQueries(s: KernelState): ProbeQuery[] {
  const out: ProbeQuery[] = [];
  const up = new Set(s.link.filter((l) => l.adminUp).map((l) => l.name));
  for (const f of [4, 6] as const) {
    const srcs = s.address
      .filter((a) => a.family === f && (f === 4 || up.has(a.dev)))
      .map((a) => a.local.split("/")[0]!);
    for (const dst of PROBE_DSTS[f]) {
      for (const src of [undefined, ...srcs])
        for (const mark of [undefined, 1])
          out.push({ dst, ...(src !== undefined ? { src } : {}), ...(mark !== undefined ? { mark } : {}) });
      for (const l of s.link) out.push({ dst, oif: l.name });
      for (const l of s.link) if (l.adminUp) out.push({ dst, iif: l.name, src: FOREIGN_SOURCE[f] });
    }
  }
  return out;
}
