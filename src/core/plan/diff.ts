// diff(owned observed, desired): the ops that turn one into the other, per kind and key.
// Foreign objects never enter: observed is filtered by ownership, and a desired object that is not
// ours is a bug upstream (a table outside the range, a wrong protocol): refused, never planned.
import { isOwned, keyOf, sameObject } from "../../kinds/registry.js";
import {
  KIND_NAMES,
  type KernelObject,
  type KernelState,
  type KindName,
  type Op,
  type Ownership,
  type Route,
  type Rule,
} from "../../kinds/types.js";

/** Kinds the kernel can change in place under the same key (route replace, tc change, sysctl write, nft -f). */
export const IN_PLACE: { readonly [K in KindName]: boolean } = {
  link: true,
  address: false,
  // A rule's key holds every selector and its action: two owned rules with one key are equal.
  rule: false,
  route: true,
  qdisc: true,
  class: true,
  filter: true,
  "nft-table": true,
  sysctl: true,
  // A service picks up a new configuration by restarting: stop, then start.
  hostapd: false,
  dnsmasq: false,
  "dhcp-client": false,
};

/** Kinds that always exist while their interface does: no longer desired means no longer managed, not deleted. */
export const UNDELETABLE: ReadonlySet<KindName> = new Set<KindName>(["link", "sysctl"]);

/**
 * Objects the kernel puts back by itself once removed, so never deleted: a device's default qdiscs
 * (handle 0:, noqueue, pfifo_fast, mq and its children) return whenever the root tree goes.
 */
export function kernelDefault(o: KernelObject): boolean {
  return o.kind === "qdisc" && (o.handle === "0:" || o.handle === "");
}

/** A number every key of the kind contains: objects in different buckets never share a key (a cheap prefilter). */
const BUCKET: { readonly [K in KindName]?: (o: KernelObject) => number } = {
  route: (o) => (o as Route).table,
  rule: (o) => (o as Rule).priority,
};

export class OwnershipError extends Error {
  override name = "OwnershipError";
}

export interface Conflict {
  readonly desired: KernelObject;
  readonly foreign: KernelObject;
}

/**
 * Desired objects whose kernel identity a foreign object holds (a route with another protocol in one of
 * our tables, say). Writing ours would replace theirs, so such a plan is refused.
 */
export function conflicts(observed: KernelState, desired: KernelState, own: Ownership): Conflict[] {
  const out: Conflict[] = [];
  for (const kind of KIND_NAMES) {
    if (desired[kind].length === 0) continue;
    const bucket = BUCKET[kind];
    const buckets = bucket === undefined ? undefined : new Set(desired[kind].map(bucket));
    // Foreign objects first (cheap tests), keys only when there are any.
    const foreign = observed[kind].filter(
      (o) => (bucket === undefined || buckets!.has(bucket(o))) && !isOwned(o, own),
    );
    if (foreign.length === 0) continue;
    const wanted = new Map(desired[kind].map((d) => [keyOf(d), d] as const));
    for (const o of foreign) {
      const d = wanted.get(keyOf(o));
      if (d !== undefined) out.push({ desired: d, foreign: o });
    }
  }
  return out;
}

/** Ops (unordered; see order.ts) turning the owned part of observed into desired. */
export function diff(observed: KernelState, desired: KernelState, own: Ownership): Op[] {
  const clash = conflicts(observed, desired, own)[0];
  if (clash !== undefined)
    throw new OwnershipError(
      `desired ${clash.desired.kind} ${keyOf(clash.desired)} would replace a foreign object`,
    );
  const ops: Op[] = [];
  for (const kind of KIND_NAMES) {
    const want = desired[kind];
    // One map (desired key → index) and a flag per desired object: large states stay cheap.
    const index = new Map<string, number>();
    want.forEach((o, i) => {
      if (!isOwned(o, own))
        throw new OwnershipError(
          `desired ${kind} ${keyOf(o)} is not owned by backhaul: it would touch a foreign object`,
        );
      const k = keyOf(o);
      if (index.has(k))
        throw new OwnershipError(`the desired state holds two ${kind} objects with key "${k}"`);
      index.set(k, i);
    });
    const matched = new Uint8Array(want.length);
    for (const before of observed[kind]) {
      if (!isOwned(before, own)) continue;
      const i = index.get(keyOf(before));
      if (i === undefined) {
        if (!UNDELETABLE.has(kind) && !kernelDefault(before)) ops.push({ op: "delete", before });
        continue;
      }
      if (matched[i] === 1)
        throw new OwnershipError(`the observed state holds two ${kind} objects with key "${keyOf(before)}"`);
      matched[i] = 1;
      const after = want[i]!;
      if (sameObject(before, after)) continue;
      if (IN_PLACE[kind]) ops.push({ op: "change", before, after });
      else ops.push({ op: "delete", before }, { op: "add", after });
    }
    want.forEach((after, i) => {
      if (matched[i] === 0) ops.push({ op: "add", after });
    });
  }
  return ops;
}
