// One description per kind: its identity key, its ownership test and its comparison.
// Observation, rendering to commands and inverse ops plug into the same table (see src/observe, src/plan).
import { plainEqual } from "../util/canonical.js";
import type { KernelObject, KernelState, KindName, ObjectOf, Ownership } from "./types.js";

export interface KindDescription<K extends KindName> {
  readonly kind: K;
  /** Identity within the kind: two objects with the same key cannot both exist in the kernel. */
  key(o: ObjectOf<K>): string;
  /** True when backhaul owns this object and may change or delete it. */
  owned(o: ObjectOf<K>, own: Ownership): boolean;
}

const inRange = (n: number | undefined, r: { min: number; max: number }): boolean =>
  n !== undefined && n >= r.min && n <= r.max;

const opt = (v: string | number | boolean | undefined): string => (v === undefined ? "" : String(v));

export const KINDS: { readonly [K in KindName]: KindDescription<K> } = {
  link: { kind: "link", key: (o) => o.name, owned: () => false },
  address: { kind: "address", key: (o) => `${o.dev} ${o.local}`, owned: () => false },
  rule: {
    kind: "rule",
    // The kernel allows duplicate priorities; a rule is identified by all of its selectors and its action.
    key: (o) =>
      [
        o.family,
        o.priority,
        o.not ? "not" : "",
        opt(o.from),
        opt(o.to),
        opt(o.iif),
        opt(o.oif),
        opt(o.fwmark),
        opt(o.fwmask),
        o.action,
        opt(o.table),
        opt(o.goto),
        opt(o.suppressPrefixlength),
        opt(o.tos),
        opt(o.ipproto),
        opt(o.sport),
        opt(o.dport),
        opt(o.uidrange),
        o.l3mdev ? "l3mdev" : "",
      ].join(" "),
    owned: (o, own) => o.protocol === own.protocol && inRange(o.priority, own.priorities),
  },
  route: {
    kind: "route",
    // Linux identifies an IPv4/IPv6 route by table, destination and metric (tos is never used by us).
    key: (o) => `${o.family} ${o.table} ${o.dst} ${o.metric}`,
    owned: (o, own) => o.protocol === own.protocol && inRange(o.table, own.tables),
  },
  qdisc: {
    kind: "qdisc",
    key: (o) => `${o.dev} ${o.parent}`,
    owned: (o, own) => own.qosInterfaces.includes(o.dev) && o.parent !== "ingress",
  },
  class: {
    kind: "class",
    key: (o) => `${o.dev} ${o.classid}`,
    owned: (o, own) => own.qosInterfaces.includes(o.dev),
  },
  filter: {
    kind: "filter",
    key: (o) => `${o.dev} ${o.parent} ${o.protocol} ${o.pref} ${opt(o.handle)}`,
    owned: (o, own) => own.qosInterfaces.includes(o.dev),
  },
  "nft-table": {
    kind: "nft-table",
    key: (o) => `${o.family} ${o.name}`,
    owned: (o, own) => o.family === own.nftTable.family && o.name === own.nftTable.name,
  },
  sysctl: { kind: "sysctl", key: (o) => o.name, owned: (o, own) => own.sysctls.includes(o.name) },
  // Service kinds are observed only from our own state directory, so whatever is seen is ours.
  hostapd: { kind: "hostapd", key: (o) => o.iface, owned: () => true },
  dnsmasq: { kind: "dnsmasq", key: (o) => o.iface, owned: () => true },
  "dhcp-client": { kind: "dhcp-client", key: (o) => o.iface, owned: () => true },
};

export function describe<K extends KindName>(kind: K): KindDescription<K> {
  return KINDS[kind] as KindDescription<K>;
}

export function keyOf(o: KernelObject): string {
  return (describe(o.kind).key as (x: KernelObject) => string)(o);
}

export function isOwned(o: KernelObject, own: Ownership): boolean {
  return (describe(o.kind).owned as (x: KernelObject, w: Ownership) => boolean)(o, own);
}

/** Structural equality of two normalized objects of one kind. */
export function sameObject(a: KernelObject, b: KernelObject): boolean {
  return plainEqual(a, b);
}

/** Sort every kind's list by key: the canonical order of a state. */
export function canonicalState(s: KernelState): KernelState {
  const out: Record<string, readonly KernelObject[]> = {};
  for (const k of Object.keys(s) as KindName[]) {
    // Each key computed once (a large routing table has 100k objects).
    out[k] = s[k]
      .map((o) => [keyOf(o), o] as const)
      .sort(([ka], [kb]) => (ka < kb ? -1 : ka > kb ? 1 : 0))
      .map(([, o]) => o);
  }
  return out as unknown as KernelState;
}

/** Only the objects backhaul owns. */
export function ownedState(s: KernelState, own: Ownership): KernelState {
  const out: Record<string, readonly KernelObject[]> = {};
  for (const k of Object.keys(s) as KindName[]) out[k] = s[k].filter((o) => isOwned(o, own));
  return out as unknown as KernelState;
}
