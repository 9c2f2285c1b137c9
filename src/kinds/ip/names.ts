// Numeric forms of iproute2's symbolic names. We run ip with -N (numeric output), so names only show up
// from older tools or hand-fed input; the defaults from iproute2's rt_tables, rt_protos and rt_scopes
// cover those. A name we do not know makes the object unreadable (dropped), never a guess.

export type RouteType =
  | "unicast"
  | "local"
  | "broadcast"
  | "multicast"
  | "anycast"
  | "blackhole"
  | "unreachable"
  | "prohibit"
  | "throw";

export type RouteScope = "global" | "site" | "link" | "host" | "nowhere";

const TABLES: Readonly<Record<string, number>> = { unspec: 0, default: 253, main: 254, local: 255 };

const PROTOCOLS: Readonly<Record<string, number>> = {
  unspec: 0,
  redirect: 1,
  kernel: 2,
  boot: 3,
  static: 4,
  gated: 8,
  ra: 9,
  mrt: 10,
  zebra: 11,
  bird: 12,
  dnrouted: 13,
  xorp: 14,
  ntk: 15,
  dhcp: 16,
  keepalived: 18,
  babel: 42,
  openr: 99,
  bgp: 186,
  isis: 187,
  ospf: 188,
  rip: 189,
  eigrp: 192,
};

const SCOPES: Readonly<Record<string, RouteScope>> = {
  "0": "global",
  global: "global",
  universe: "global",
  "200": "site",
  site: "site",
  "253": "link",
  link: "link",
  "254": "host",
  host: "host",
  "255": "nowhere",
  nowhere: "nowhere",
};

const ROUTE_TYPES: readonly (RouteType | undefined)[] = [
  undefined,
  "unicast",
  "local",
  "broadcast",
  "anycast",
  "multicast",
  "blackhole",
  "unreachable",
  "prohibit",
  "throw",
];

function numberOrName(v: unknown, names: Readonly<Record<string, number>>): number | undefined {
  if (typeof v === "number") return Number.isInteger(v) && v >= 0 ? v : undefined;
  if (typeof v !== "string") return undefined;
  if (/^\d+$/.test(v)) return Number(v);
  return Object.prototype.hasOwnProperty.call(names, v) ? names[v] : undefined;
}

export const tableNumber = (v: unknown): number | undefined => numberOrName(v, TABLES);
export const protocolNumber = (v: unknown): number | undefined => numberOrName(v, PROTOCOLS);

export function scopeName(v: unknown): RouteScope | undefined {
  const k = typeof v === "number" ? String(v) : v;
  return typeof k === "string" && Object.prototype.hasOwnProperty.call(SCOPES, k) ? SCOPES[k] : undefined;
}

export function routeType(v: unknown): RouteType | undefined {
  if (typeof v === "string" && /^\d+$/.test(v)) return ROUTE_TYPES[Number(v)];
  if (typeof v === "number") return ROUTE_TYPES[v];
  return ROUTE_TYPES.find((t) => t !== undefined && t === v);
}

const nameOf = (names: Readonly<Record<string, number>>, n: number): string | undefined =>
  Object.entries(names).find(([, v]) => v === n)?.[0];

/** "main", "local", "default", else the number. */
export const tableName = (n: number): string => (n === 0 ? "0" : (nameOf(TABLES, n) ?? String(n)));
/** The kernel's own protocol names; others (routing daemons, ours) show as numbers. */
export const protocolName = (n: number): string =>
  [0, 1, 2, 3, 4, 9, 16].includes(n) ? (nameOf(PROTOCOLS, n) ?? String(n)) : String(n);
