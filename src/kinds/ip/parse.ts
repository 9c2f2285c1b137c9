// Parsers for `ip -N -j -d` output (address show, rule show, route show table all) into the normalized
// model. Pure: they take the parsed JSON, never throw, and drop any object they cannot read fully.
import ipaddr from "ipaddr.js";
import type { Address, Family, Link, Nexthop, Route, Rule, RuleAction } from "../types.js";
import { arr, isObject, mapDefined, num, obj, objects, str, strings, type Json } from "../json.js";
import { protocolNumber, routeType, scopeName, tableNumber } from "./names.js";
import { classifyLink, type LinkFacts } from "../link-class.js";

export const TABLE_LOCAL = 255;
export const PROTO_KERNEL = 2;

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

/** IPv6 texts already seen: ipaddr.js is thorough but slow, and gateways and sources repeat. */
const v6Cache = new Map<string, string | undefined>();

/** Canonical text of an address of the given family, or undefined when it is not one. */
export function canonicalAddress(a: string, family?: Family): string | undefined {
  // Dotted-quad IPv4 without leading zeros is already canonical (the common case, kept fast).
  if (IPV4.test(a)) return family === 6 ? undefined : a;
  if (family === 4 || !a.includes(":") || a.includes("%")) return undefined;
  let c = v6Cache.get(a);
  if (c === undefined && !v6Cache.has(a)) {
    c = ipaddr.IPv6.isValid(a) ? ipaddr.IPv6.parse(a).toString() : undefined;
    if (v6Cache.size >= 10_000) v6Cache.clear();
    v6Cache.set(a, c);
  }
  return c;
}

export function familyOf(a: string): Family | undefined {
  if (!ipaddr.isValid(a)) return undefined;
  return ipaddr.parse(a).kind() === "ipv6" ? 6 : 4;
}

/** "a.b.c.d/len" from an address and an optional prefix length (absent: a host prefix). */
export function canonicalPrefix(a: string, len: number | undefined, family?: Family): string | undefined {
  const addr = canonicalAddress(a, family);
  if (addr === undefined) return undefined;
  const max = addr.includes(":") ? 128 : 32;
  const l = len ?? max;
  if (!Number.isInteger(l) || l < 0 || l > max) return undefined;
  return `${addr}/${l}`;
}

/** A prefix as iproute2 prints it ("default", "10.0.0.0/8", "10.0.0.1") in canonical form. */
export function canonicalDst(dst: string, family: Family): string | undefined {
  if (dst === "default") return family === 4 ? "0.0.0.0/0" : "::/0";
  const [a, len, extra] = dst.split("/");
  if (a === undefined || extra !== undefined) return undefined;
  if (len !== undefined && !/^\d+$/.test(len)) return undefined;
  return canonicalPrefix(a, len === undefined ? undefined : Number(len), family);
}

const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

/** Links from `ip -j -d address show`; facts are the sysfs facts per interface name. */
export function parseLinks(json: unknown, facts: ReadonlyMap<string, LinkFacts>): Link[] {
  return mapDefined(objects(json), (o) => {
    const name = str(o, "ifname");
    const index = num(o, "ifindex");
    const mtu = num(o, "mtu");
    const operState = str(o, "operstate");
    const flags = arr(o, "flags");
    if (name === undefined || index === undefined || mtu === undefined || operState === undefined) return;
    if (flags === undefined) return;
    const linkKind = str(obj(o, "linkinfo") ?? {}, "info_kind");
    const f = facts.get(name) ?? { name, wireless: false };
    const mac = str(o, "address")?.toLowerCase();
    const link: Link = {
      kind: "link",
      name,
      index,
      linkClass: classifyLink({ ...f, name }),
      adminUp: flags.includes("UP"),
      carrier: flags.includes("LOWER_UP"),
      operState: operState.toLowerCase(),
      mtu,
      ...(mac !== undefined && MAC.test(mac) ? { mac } : {}),
      ...(f.driver !== undefined ? { driver: f.driver } : {}),
      ...(linkKind !== undefined ? { linkKind } : {}),
    };
    return link;
  });
}

/** Addresses from `ip -j -d address show` (lifetimes, labels and flags dropped). */
export function parseAddresses(json: unknown): Address[] {
  return objects(json).flatMap((l) => {
    const dev = str(l, "ifname");
    if (dev === undefined) return [];
    return mapDefined(objects(l["addr_info"]), (a) => {
      const fam = str(a, "family");
      const family: Family | undefined = fam === "inet" ? 4 : fam === "inet6" ? 6 : undefined;
      const local = str(a, "local");
      const len = num(a, "prefixlen");
      const scope = scopeName(a["scope"]);
      if (family === undefined || local === undefined || len === undefined || scope === undefined) return;
      // With a peer, prefixlen belongs to the peer and the local address is a host address.
      const peerAddr = str(a, "address");
      const peer = peerAddr === undefined ? undefined : canonicalPrefix(peerAddr, len, family);
      const prefix = canonicalPrefix(local, peerAddr === undefined ? len : undefined, family);
      if (prefix === undefined || (peerAddr !== undefined && peer === undefined)) return;
      const address: Address = {
        kind: "address",
        family,
        dev,
        local: prefix,
        scope,
        ...(peer !== undefined ? { peer } : {}),
      };
      return address;
    });
  });
}

const IP_PROTOS: Readonly<Record<string, number>> = {
  icmp: 1,
  tcp: 6,
  udp: 17,
  dccp: 33,
  gre: 47,
  esp: 50,
  "ipv6-icmp": 58,
  sctp: 132,
};

function ipproto(v: unknown): number | undefined {
  if (typeof v === "number") return v;
  if (typeof v !== "string") return undefined;
  // -N prints "ipproto-6"
  const m = /^(?:ipproto-)?(\d+)$/.exec(v);
  if (m !== null) return Number(m[1]);
  return IP_PROTOS[v];
}

/** "443" or "1000-2000" from a single field or a start/end pair. */
function range(o: Json, k: string, start: string, end: string): string | undefined | null {
  const single = num(o, k);
  if (single !== undefined) return String(single);
  if (o[start] === undefined && o[end] === undefined) return undefined;
  const s = num(o, start);
  const e = num(o, end);
  if (s === undefined || e === undefined) return null;
  return s === e ? String(s) : `${s}-${e}`;
}

const RULE_ACTIONS: readonly RuleAction[] = ["blackhole", "unreachable", "prohibit"];

/** Rules of one family from `ip -N -j -d rule show`. */
export function parseRules(json: unknown, family: Family): Rule[] {
  return mapDefined(objects(json), (o) => {
    const priority = num(o, "priority");
    if (priority === undefined) return;
    const sel = (addrKey: string, lenKey: string): string | undefined | null => {
      const a = str(o, addrKey);
      if (a === undefined || a === "all") return o[addrKey] === undefined || a === "all" ? undefined : null;
      return canonicalPrefix(a, num(o, lenKey), family) ?? null;
    };
    const from = sel("src", "srclen");
    const to = sel("dst", "dstlen");
    const sport = range(o, "sport", "sport_start", "sport_end");
    const dport = range(o, "dport", "dport_start", "dport_end");
    const uidrange = range(o, "uidrange", "uid_start", "uid_end");
    if (from === null || to === null || sport === null || dport === null || uidrange === null) return;

    let action: RuleAction = "lookup";
    let table: number | undefined;
    let goto: number | undefined;
    const act = o["action"];
    if (act !== undefined) {
      // -N prints the action as its route type number (6 blackhole, 7 unreachable, 8 prohibit).
      const t = routeType(act);
      const a = RULE_ACTIONS.find((x) => x === t);
      if (a === undefined) return;
      action = a;
    } else if (o["goto"] !== undefined) {
      goto = num(o, "goto");
      if (goto === undefined) return;
      action = "goto";
    } else if ("nop" in o) {
      action = "nop";
    } else if (o["table"] !== undefined) {
      table = tableNumber(o["table"]);
      if (table === undefined) return;
    }
    const protocol = o["protocol"] === undefined ? 0 : protocolNumber(o["protocol"]);
    if (protocol === undefined) return;
    const fwmark = o["fwmark"] === undefined ? undefined : num(o, "fwmark");
    const fwmaskRaw = o["fwmask"] === undefined ? undefined : num(o, "fwmask");
    if (o["fwmark"] !== undefined && fwmark === undefined) return;
    if (o["fwmask"] !== undefined && fwmaskRaw === undefined) return;
    const fwmask = fwmark === undefined || fwmaskRaw === 0xffffffff ? undefined : fwmaskRaw;
    const tos = o["tos"] === undefined ? undefined : num(o, "tos");
    const proto = o["ipproto"] === undefined ? undefined : ipproto(o["ipproto"]);
    if (o["tos"] !== undefined && tos === undefined) return;
    if (o["ipproto"] !== undefined && proto === undefined) return;
    const suppress = num(o, "suppress_prefixlen");
    const iif = str(o, "iif");
    const oif = str(o, "oif");
    const rule: Rule = {
      kind: "rule",
      family,
      priority,
      ...("not" in o ? { not: true } : {}),
      ...(from !== undefined ? { from } : {}),
      ...(to !== undefined ? { to } : {}),
      ...(iif !== undefined ? { iif } : {}),
      ...(oif !== undefined ? { oif } : {}),
      ...(fwmark !== undefined ? { fwmark } : {}),
      ...(fwmask !== undefined ? { fwmask } : {}),
      action,
      ...(table !== undefined ? { table } : {}),
      ...(goto !== undefined ? { goto } : {}),
      ...(suppress !== undefined ? { suppressPrefixlength: suppress } : {}),
      ...(tos !== undefined && tos !== 0 ? { tos } : {}),
      ...(proto !== undefined ? { ipproto: proto } : {}),
      ...(sport !== undefined ? { sport } : {}),
      ...(dport !== undefined ? { dport } : {}),
      ...(uidrange !== undefined ? { uidrange } : {}),
      ...("l3mdev" in o ? { l3mdev: true } : {}),
      protocol,
    };
    return rule;
  });
}

const DEVICELESS: ReadonlySet<string> = new Set(["blackhole", "unreachable", "prohibit", "throw"]);

/** The family of an `ip -j route` entry: iproute2 does not print it, but IPv6 routes always carry "pref". */
function routeFamily(o: Json): Family | undefined {
  if ("pref" in o) return 6;
  for (const k of ["dst", "gateway", "prefsrc"]) {
    const v = str(o, k);
    if (v !== undefined && v !== "default") return v.includes(":") ? 6 : 4;
  }
  const nh = objects(o["nexthops"])[0];
  const g = nh === undefined ? undefined : str(nh, "gateway");
  if (g !== undefined) return g.includes(":") ? 6 : 4;
  return str(o, "dst") === "default" ? 4 : undefined;
}

/** A gateway as "gateway": "a.b.c.d", or as "via": {"family": ..., "host": ...} for the other family. */
function gatewayOf(o: Json): string | undefined | null {
  const g = str(o, "gateway") ?? str(obj(o, "via") ?? {}, "host");
  if (g === undefined) return o["gateway"] === undefined && o["via"] === undefined ? undefined : null;
  return canonicalAddress(g) ?? null;
}

function parseNexthop(o: Json): Nexthop | undefined {
  const dev = str(o, "dev");
  const gateway = gatewayOf(o);
  if (dev === undefined || gateway === null) return;
  const weight = o["weight"] === undefined ? 1 : num(o, "weight");
  if (weight === undefined) return;
  return {
    ...(gateway !== undefined ? { gateway } : {}),
    dev,
    weight,
    ...(strings(o, "flags").includes("onlink") ? { onlink: true } : {}),
  };
}

function nexthopOrder(a: Nexthop, b: Nexthop): number {
  const ka = `${a.dev} ${a.gateway ?? ""}`;
  const kb = `${b.dev} ${b.gateway ?? ""}`;
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

/**
 * Routes from `ip -N -j -d route show table all` (both families). Dropped: the local table's kernel
 * routes (derived from addresses), cached clones, and per-route flags other than onlink.
 */
export function parseRoutes(json: unknown): Route[] {
  return mapDefined(objects(json), (o) => {
    const family = routeFamily(o);
    const type = routeType(o["type"] ?? "1");
    const dstRaw = str(o, "dst");
    const table = o["table"] === undefined ? 254 : tableNumber(o["table"]);
    const protocol = o["protocol"] === undefined ? 0 : protocolNumber(o["protocol"]);
    const scope = o["scope"] === undefined ? "global" : scopeName(o["scope"]);
    const flags = o["flags"] === undefined ? [] : arr(o, "flags");
    if (family === undefined || type === undefined || dstRaw === undefined) return;
    if (table === undefined || protocol === undefined || scope === undefined || flags === undefined) return;
    if (table === TABLE_LOCAL && protocol === PROTO_KERNEL) return;
    if (flags.includes("cache") || "cache" in o) return;
    const dst = canonicalDst(dstRaw, family);
    const metric = o["metric"] === undefined ? 0 : num(o, "metric");
    const gateway = gatewayOf(o);
    const prefsrcRaw = str(o, "prefsrc");
    const prefsrc = prefsrcRaw === undefined ? undefined : canonicalAddress(prefsrcRaw);
    if (dst === undefined || metric === undefined || gateway === null) return;
    if (prefsrcRaw !== undefined && prefsrc === undefined) return;
    // IPv6 attaches blackhole/unreachable/prohibit/throw routes to lo; they have no device.
    const dev = DEVICELESS.has(type) ? undefined : str(o, "dev");
    let nexthops: Nexthop[] | undefined;
    if (o["nexthops"] !== undefined) {
      const raw = arr(o, "nexthops");
      if (raw === undefined || !raw.every(isObject)) return;
      const parsed = raw.map((n) => parseNexthop(n as Json));
      if (parsed.some((n) => n === undefined)) return;
      nexthops = (parsed as Nexthop[]).sort(nexthopOrder);
    }
    const route: Route = {
      kind: "route",
      family,
      table,
      type,
      dst,
      metric,
      protocol,
      scope,
      ...(gateway !== undefined ? { gateway } : {}),
      ...(dev !== undefined ? { dev } : {}),
      ...(flags.includes("onlink") ? { onlink: true } : {}),
      ...(prefsrc !== undefined ? { prefsrc } : {}),
      ...(nexthops !== undefined ? { nexthops } : {}),
    };
    return route;
  });
}
