// Routes: each uplink's default in its own table and the active table's default. Ours carry our
// protocol number and live in a table of the policy's range.
import ipaddr from "ipaddr.js";
import { RenderError, type Family, type KindDriver, COMMON_PARTS } from "../driver.js";
import { arr, isObject, mapDefined, num, obj, objects, str, strings, type Json } from "../json.js";
import { ipSection } from "../raw.js";
import type { KernelState } from "../types.js";
import { address, canonicalAddress, canonicalDst, dev, fam, ipLine, prefix, SCOPES, u32 } from "./common.js";
import {
  protocolName,
  protocolNumber,
  routeType,
  scopeName,
  tableName,
  tableNumber,
  type RouteScope,
  type RouteType,
} from "./names.js";

export interface Nexthop {
  readonly gateway?: string;
  readonly dev: string;
  /** 1..256 as `ip route` shows it (the kernel stores weight-1). */
  readonly weight: number;
  readonly onlink?: boolean;
}

export interface Route {
  readonly kind: "route";
  readonly family: Family;
  readonly table: number;
  readonly type: RouteType;
  /** Always a prefix: default is "0.0.0.0/0" or "::/0". */
  readonly dst: string;
  readonly metric: number;
  readonly protocol: number;
  readonly scope: RouteScope;
  readonly gateway?: string;
  readonly dev?: string;
  readonly onlink?: boolean;
  readonly prefsrc?: string;
  /** Present only for multipath routes (then gateway/dev are absent). */
  readonly nexthops?: readonly Nexthop[];
}

export const TABLE_LOCAL = 255;
export const PROTO_KERNEL = 2;
/** Tables the kernel always consults (local, main, default). */
const BUILTIN_TABLES = new Set([253, 254, 255]);

const isDefaultDst = (dst: string): boolean => dst === "0.0.0.0/0" || dst === "::/0";

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

/** The scope iproute2 gives an IPv4 route when none is named: only a different one is rendered. */
function defaultScope(r: Route): RouteScope {
  if (r.type === "local") return "host";
  if (r.type === "broadcast" || r.type === "multicast" || r.type === "anycast") return "link";
  if (r.type === "unicast" && r.gateway === undefined && !r.nexthops?.length) return "link";
  return "global";
}

function routeSpec(r: Route): string[] {
  const f = r.family;
  const out: string[] = [];
  if (r.type !== "unicast") out.push(r.type);
  out.push(prefix(r.dst, f), "table", u32(r.table, "table", 1), "proto", u32(r.protocol, "protocol", 0, 255));
  out.push("metric", u32(r.metric, "metric"));
  if (!SCOPES.includes(r.scope)) throw new RenderError(`invalid scope ${JSON.stringify(r.scope)}`);
  if (f === 4 && r.scope !== defaultScope(r)) out.push("scope", r.scope);
  if (r.nexthops && r.nexthops.length) {
    if (r.gateway !== undefined || r.dev !== undefined)
      throw new RenderError("a multipath route has no gateway/dev of its own");
    for (const h of r.nexthops) {
      out.push("nexthop");
      if (h.gateway !== undefined) out.push("via", address(h.gateway, f));
      out.push("dev", dev(h.dev), "weight", u32(h.weight, "weight", 1, 256));
      if (h.onlink) out.push("onlink");
    }
  } else {
    if (r.gateway !== undefined) out.push("via", address(r.gateway, f));
    if (r.dev !== undefined) out.push("dev", dev(r.dev));
    if (r.onlink) out.push("onlink");
  }
  if (r.prefsrc !== undefined) out.push("src", address(r.prefsrc, f));
  return out;
}

/** Delete by identity (type, prefix, table, metric, protocol): never by a looser match. */
function routeDeleteSpec(r: Route): string[] {
  const out: string[] = [];
  if (r.type !== "unicast") out.push(r.type);
  out.push(
    prefix(r.dst, r.family),
    "table",
    u32(r.table, "table", 1),
    "proto",
    u32(r.protocol, "protocol", 0, 255),
  );
  out.push("metric", u32(r.metric, "metric"));
  return out;
}

/**
 * Linux identifies an IPv4 route by table, destination and metric (tos is never used by us). IPv6 keeps
 * routes without a gateway apart by device as well (every link has its own fe80::/64, metric 256).
 */
const routeKey = (o: Route): string =>
  o.family === 6 && o.gateway === undefined && o.nexthops === undefined && o.dev !== undefined
    ? `${o.family} ${o.table} ${o.dst} ${o.metric} dev ${o.dev}`
    : `${o.family} ${o.table} ${o.dst} ${o.metric}`;

function nexthopText(n: Nexthop): string {
  return `nexthop${n.gateway === undefined ? "" : ` via ${n.gateway}`} dev ${n.dev} weight ${n.weight}${n.onlink ? " onlink" : ""}`;
}

/** The route in the words of `ip route`, for plans and logs. */
function describeRoute(r: Route): string {
  const dst = isDefaultDst(r.dst) ? "default" : r.dst;
  const type = r.type === "unicast" ? "" : `${r.type} `;
  const path =
    r.nexthops !== undefined
      ? ` ${r.nexthops.map(nexthopText).join(" ")}`
      : `${r.gateway === undefined ? "" : ` via ${r.gateway}`}${r.dev === undefined ? "" : ` dev ${r.dev}`}${r.onlink ? " onlink" : ""}`;
  return `${fam(r.family)}${type}${dst}${path} table ${r.table} metric ${r.metric} proto ${r.protocol}`;
}

/** Every field, with protocol names, as `show` lists a route. */
export function routeText(r: Route): string {
  const parts = [
    r.type !== "unicast" ? r.type : "",
    r.dst,
    r.gateway !== undefined ? `via ${r.gateway}` : "",
    r.dev !== undefined ? `dev ${r.dev}` : "",
    r.onlink ? "onlink" : "",
    `proto ${protocolName(r.protocol)}`,
    r.scope !== "global" ? `scope ${r.scope}` : "",
    r.prefsrc !== undefined ? `src ${r.prefsrc}` : "",
    r.metric !== 0 ? `metric ${r.metric}` : "",
    ...(r.nexthops ?? []).map(nexthopText),
  ];
  return parts.filter(Boolean).join(" ");
}

export const route: KindDriver<Route, KernelState> = {
  kind: "route",
  ...COMMON_PARTS,
  key: routeKey,
  bucket: (o) => o.table,
  owned: (o, own) => o.protocol === own.protocol && o.table >= own.tables.min && o.table <= own.tables.max,
  sources: ["ip-route"],
  observe: (raw) => parseRoutes(ipSection(raw, "route")),
  inPlace: true,
  rank: 4,
  command: {
    tool: "ip",
    render(op) {
      if (op.op === "add") return [ipLine(op.after.family, ["route", "add", ...routeSpec(op.after)])];
      if (op.op === "delete")
        return [ipLine(op.before.family, ["route", "del", ...routeDeleteSpec(op.before)])];
      // Same identity: one atomic replace. Another identity: make the new route before the old goes.
      if (routeKey(op.before) === routeKey(op.after))
        return [ipLine(op.after.family, ["route", "replace", ...routeSpec(op.after)])];
      return [
        ipLine(op.after.family, ["route", "add", ...routeSpec(op.after)]),
        ipLine(op.before.family, ["route", "del", ...routeDeleteSpec(op.before)]),
      ];
    },
  },
  describe: describeRoute,
  disruption(op, facts) {
    const o = op.op === "delete" ? op.before : op.after;
    if (isDefaultDst(o.dst) && facts.catchAll(o.family, o.table)) return "traffic-switch";
    if (!facts.referenced(o.family, o.table) && !BUILTIN_TABLES.has(o.table)) return "none";
    return "in-place";
  },
  affectsLookup(o, dst) {
    const [net, len] = ipaddr.parseCIDR(o.dst);
    const addr = ipaddr.parse(dst);
    return net.kind() === addr.kind() && addr.match([net, len]);
  },
  slot: (o) => `route ${o.family} ${o.table} ${o.dst}`,
  policyRef: (o) => ({ table: o.table, family: o.family, routing: true }),
  show: {
    place: 3,
    keep: (o) => o.table !== TABLE_LOCAL,
    sections: (routes) =>
      [...new Set(routes.map((r) => r.table))]
        .sort((a, b) => a - b)
        .map((t) => ({
          title: `Routes: table ${tableName(t)}`,
          lines: routes.filter((r) => r.table === t).map((r) => `  ${routeText(r)}`),
        })),
  },
  cleanup: "remove",
};
