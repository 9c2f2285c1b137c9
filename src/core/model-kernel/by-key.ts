// A strict, set-based application of ops to a KernelState: what the kernel would hold after a plan,
// for owned and foreign objects alike. The model kernel (lookup semantics) can take its place later;
// this one only tracks objects by key, and refuses ops that do not fit the state they are applied to.
import { keyOf, sameObject, canonicalState, isTransient } from "../../kinds/registry.js";
import {
  KIND_NAMES,
  type KernelObject,
  type KernelState,
  type KindName,
  type Op,
} from "../../kinds/types.js";

export class ApplyModelError extends Error {
  override name = "ApplyModelError";
  constructor(
    readonly step: number,
    message: string,
  ) {
    super(`step ${step}: ${message}`);
  }
}

const opObject = (op: Op): KernelObject => (op.op === "delete" ? op.before : op.after);

/** A mutable per-kind index of a state, for applying many ops in O(1) each. */
export class StateIndex {
  private readonly maps = new Map<KindName, Map<string, KernelObject>>();

  constructor(s: KernelState) {
    for (const k of KIND_NAMES) this.maps.set(k, new Map(s[k].map((o) => [keyOf(o), o])));
  }

  /** Apply one op; throws ApplyModelError when it does not fit (adding what exists, changing what differs). */
  apply(op: Op, step: number): void {
    const o = opObject(op);
    const map = this.maps.get(o.kind)!;
    const key = keyOf(o);
    const cur = map.get(key);
    if (op.op === "add") {
      if (cur !== undefined) throw new ApplyModelError(step, `add ${o.kind} ${key}: it already exists`);
      map.set(key, op.after);
      return;
    }
    if (cur === undefined && op.op === "delete" && isTransient(o)) return;
    if (cur === undefined) throw new ApplyModelError(step, `${op.op} ${o.kind} ${key}: no such object`);
    if (!sameObject(cur, op.before))
      throw new ApplyModelError(step, `${op.op} ${o.kind} ${key}: the object differs from the op's before`);
    if (op.op === "delete") map.delete(key);
    else {
      if (keyOf(op.after) !== key)
        throw new ApplyModelError(step, `change ${o.kind} ${key}: before and after keys differ`);
      map.set(key, op.after);
    }
  }

  /** The state now, in canonical order. */
  toState(): KernelState {
    return canonicalState(this.snapshot());
  }

  /** The state now, lists in no particular order (enough for lookups). */
  snapshot(): KernelState {
    const out: Record<string, KernelObject[]> = {};
    for (const k of KIND_NAMES) out[k] = [...this.maps.get(k)!.values()];
    return out as unknown as KernelState;
  }
}

/** The state after running ops in order on start. */
export function applyByKey(start: KernelState, ops: readonly Op[]): KernelState {
  const ix = new StateIndex(start);
  ops.forEach((op, i) => ix.apply(op, i));
  return ix.toState();
}
