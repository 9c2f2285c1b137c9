// diff(owned observed, desired): the ops that turn one into the other, per kind and key.
// Foreign objects never enter: observed is filtered by ownership, and a desired object that is not
// ours is a bug upstream (a table outside the range, a wrong protocol): refused, never planned.
import { driver, KIND_NAMES } from "../../kinds/registry.js";
import type { KernelObject, KernelState, Op, Ownership } from "../../kinds/types.js";

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
    const { bucket, owned, key } = driver(kind);
    const buckets = bucket === undefined ? undefined : new Set(desired[kind].map(bucket));
    // Foreign objects first (cheap tests), keys only when there are any.
    const foreign = observed[kind].filter(
      (o) => (bucket === undefined || buckets!.has(bucket(o))) && !owned(o, own),
    );
    if (foreign.length === 0) continue;
    const wanted = new Map(desired[kind].map((d) => [key(d), d] as const));
    for (const o of foreign) {
      const d = wanted.get(key(o));
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
      `desired ${clash.desired.kind} ${driver(clash.desired.kind).key(clash.desired)} would replace a foreign object`,
    );
  const ops: Op[] = [];
  for (const kind of KIND_NAMES) {
    const want = desired[kind];
    const { key: keyOf, owned: isOwned, equal, inPlace, deletable } = driver(kind);
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
        if (deletable(before)) ops.push({ op: "delete", before });
        continue;
      }
      if (matched[i] === 1)
        throw new OwnershipError(`the observed state holds two ${kind} objects with key "${keyOf(before)}"`);
      matched[i] = 1;
      const after = want[i]!;
      if (equal(before, after)) continue;
      if (inPlace === true || (inPlace !== false && inPlace(before, after)))
        ops.push({ op: "change", before, after });
      else ops.push({ op: "delete", before }, { op: "add", after });
    }
    want.forEach((after, i) => {
      if (matched[i] === 0) ops.push({ op: "add", after });
    });
  }
  return ops;
}
