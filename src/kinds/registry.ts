// The registry: one driver per kind, typed over every kind name, so a kind without a driver, or a driver
// without a part, does not compile. Everything that works across kinds (diff, order, render, show,
// explain, cleanup, the lists of kinds themselves) goes through here; nothing else names the kinds.
import type { KindDriver, RenderContext } from "./driver.js";
import { natFlows } from "./conntrack/nat-flows.js";
import { address } from "./ip/address.js";
import { link } from "./ip/link.js";
import { route } from "./ip/route.js";
import { rule } from "./ip/rule.js";
import { nftTable } from "./nft/table.js";
import { dhcpClient } from "./services/dhcp-client.js";
import { dnsmasq } from "./services/dnsmasq.js";
import { hostapd } from "./services/hostapd.js";
import { sysctl } from "./sysctl/sysctl.js";
import { tcClass } from "./tc/class.js";
import { filter } from "./tc/filter.js";
import { qdisc } from "./tc/qdisc.js";
import { rootsReplaced } from "./tc/render.js";
import type { KernelObject, KernelState, KindName, ObjectOf, Op } from "./types.js";
import type { Ownership } from "./ownership.js";

export type DriverOf<K extends KindName> = KindDriver<ObjectOf<K>, KernelState>;

/** The drivers, in the order a state lists its kinds (documents and state files keep this order). */
export const DRIVERS: { readonly [K in KindName]: DriverOf<K> } = {
  link,
  address,
  rule,
  route,
  qdisc,
  class: tcClass,
  filter,
  "nft-table": nftTable,
  sysctl,
  hostapd,
  dnsmasq,
  "dhcp-client": dhcpClient,
  conntrack: natFlows,
};

export const KIND_NAMES = Object.keys(DRIVERS) as readonly KindName[];

/** The driver of an object's kind, typed for any object (the kind's own type is checked at its driver). */
export function driverOf(o: KernelObject): KindDriver<KernelObject, KernelState> {
  return DRIVERS[o.kind] as unknown as KindDriver<KernelObject, KernelState>;
}

/** A kind's driver for cross-kind machinery that handles the kind's objects as KernelObject. */
export function driver(kind: KindName): KindDriver<KernelObject, KernelState> {
  return DRIVERS[kind] as unknown as KindDriver<KernelObject, KernelState>;
}

/** Kinds in build order (lowest rank first); teardown runs it backwards. */
export const BUILD_ORDER: readonly KindName[] = [...KIND_NAMES].sort(
  (a, b) => DRIVERS[a].rank - DRIVERS[b].rank,
);

/** Kinds whose processes the daemon supervises (started again when they exit). */
export const SUPERVISED_KINDS: readonly KindName[] = KIND_NAMES.filter(
  (k) => DRIVERS[k].supervision !== undefined,
);

/** Kinds traffic makes (tracked flows): verification, drift and rollback leave them as they are. */
export const TRANSIENT_KINDS: readonly KindName[] = KIND_NAMES.filter((k) => DRIVERS[k].transient === true);

export const isTransient = (o: KernelObject): boolean => DRIVERS[o.kind].transient === true;

/** A state without the transient kinds: what verification and drift compare. */
export function settledState(s: KernelState): KernelState {
  const out: Record<string, readonly KernelObject[]> = { ...s };
  for (const k of TRANSIENT_KINDS) out[k] = [];
  return out as unknown as KernelState;
}

/** Ops on kinds no route depends on, split from the rest (each part keeps its order). */
export function splitIndependent(ops: readonly Op[]): { readonly main: Op[]; readonly side: Op[] } {
  const main: Op[] = [];
  const side: Op[] = [];
  for (const op of ops) (DRIVERS[objectOfOp(op).kind].independent === true ? side : main).push(op);
  return { main, side };
}

/** Kinds `run --cleanup-on-exit` removes. */
export const CLEANUP_KINDS: readonly KindName[] = KIND_NAMES.filter((k) => DRIVERS[k].cleanup === "remove");

export function emptyState(): KernelState {
  return Object.fromEntries(KIND_NAMES.map((k) => [k, []])) as unknown as KernelState;
}

/**
 * A state as a file of ours holds it (journal, baseline, pending change), checked: every kind present
 * is a list; a kind the file's writer did not know yet (an older backhaul) is empty. Undefined when it
 * is not a state at all.
 */
export function stateFromFile(d: unknown): KernelState | undefined {
  if (typeof d !== "object" || d === null || Array.isArray(d)) return undefined;
  const r = d as Record<string, unknown>;
  if (!KIND_NAMES.every((k) => r[k] === undefined || Array.isArray(r[k]))) return undefined;
  if (!KIND_NAMES.some((k) => Array.isArray(r[k]))) return undefined;
  return { ...emptyState(), ...(r as Partial<KernelState>) };
}

/** Ownership as a file of ours holds it; fields added since its writer are their neutral value. */
export function ownershipFromFile(o: Ownership): Ownership {
  const r = o as Partial<Ownership>;
  return { ...o, uplinkInterfaces: r.uplinkInterfaces ?? [], addresses: r.addresses ?? [] };
}

export const objectOfOp = (op: Op): KernelObject => (op.op === "delete" ? op.before : op.after);

export function keyOf(o: KernelObject): string {
  return driverOf(o).key(o);
}

export function isOwned(o: KernelObject, own: Ownership): boolean {
  return driverOf(o).owned(o, own);
}

/** Structural equality of two normalized objects of one kind. */
export function sameObject(a: KernelObject, b: KernelObject): boolean {
  return a.kind === b.kind && driverOf(a).equal(a, b);
}

/** One line for people: "default via 100.64.1.1 dev eth0 table 101". */
export function describeObject(o: KernelObject): string {
  return driverOf(o).describe(o);
}

/** "add route default via 100.64.1.1 dev eth0 table 101": one op, for people and logs. */
export function describeOp(op: Op): string {
  const obj = objectOfOp(op);
  return `${op.op} ${obj.kind} ${describeObject(obj)}`;
}

/** Sort every kind's list by key: the canonical order of a state. */
export function canonicalState(s: KernelState): KernelState {
  const out: Record<string, readonly KernelObject[]> = {};
  for (const k of Object.keys(s) as KindName[]) out[k] = canonicalKind(k, s[k]);
  return out as unknown as KernelState;
}

/** One kind's objects sorted by their key. */
export function canonicalKind(k: KindName, objects: readonly KernelObject[]): KernelObject[] {
  const key = driver(k).key;
  // Each key computed once (a large routing table has 100k objects).
  return objects
    .map((o) => [key(o), o] as const)
    .sort(([ka], [kb]) => (ka < kb ? -1 : ka > kb ? 1 : 0))
    .map(([, o]) => o);
}

/** Only the objects backhaul owns. */
export function ownedState(s: KernelState, own: Ownership): KernelState {
  const out: Record<string, readonly KernelObject[]> = {};
  for (const k of Object.keys(s) as KindName[]) {
    const owned = driver(k).owned;
    out[k] = s[k].filter((o) => owned(o, own));
  }
  return out as unknown as KernelState;
}

/** What rendering an op of this plan needs to know about the rest of it. */
export function renderContextOf(ops: readonly Op[]): RenderContext {
  return { replacedRoots: rootsReplaced(ops) };
}
