// The pure API of the model kernel: states in, states out; refusals are values, never exceptions.
import { driverOf, objectOfOp } from "../../kinds/registry.js";
import type { KernelState, Op } from "../../kinds/types.js";
import { ModelKernel, type LookupQuery, type LookupResult } from "./kernel.js";

export {
  ModelKernel,
  KernelOpError,
  defaultRules,
  derivedRoutes,
  nexthopsOf,
  PROTO_KERNEL,
  TABLE_DEFAULT,
  TABLE_LOCAL,
  TABLE_MAIN,
} from "./kernel.js";
export type { LookupError, LookupQuery, LookupResult, ResolvedNexthop } from "./kernel.js";

export type ApplyResult =
  | { readonly ok: true; readonly state: KernelState }
  | { readonly ok: false; readonly error: string; readonly step: number };

/** Apply one op the way the kernel would: the new state, or the kernel's error with nothing changed. */
export function applyOp(state: KernelState, op: Op): ApplyResult {
  return applyOps(state, [op]);
}

/** Apply ops in order; stops at the first refusal and reports its index. */
export function applyOps(state: KernelState, ops: readonly Op[]): ApplyResult {
  const k = ModelKernel.from(state);
  for (let i = 0; i < ops.length; i++) {
    const err = k.apply(ops[i]!);
    if (err) return { ok: false, error: err.message, step: i };
  }
  return { ok: true, state: k.state() };
}

/** Resolve one flow against a state with Linux policy-routing semantics. */
export function lookup(state: KernelState, q: LookupQuery): LookupResult {
  return ModelKernel.from(state).lookup(q);
}

/** The inverse of a plan: each op inverted, in reverse order. */
export function inverseOps(ops: readonly Op[]): Op[] {
  return [...ops].reverse().map(inverseOp);
}

/** The op that undoes op, as its kind's driver defines it. */
export function inverseOp(op: Op): Op {
  return driverOf(objectOfOp(op)).inverse(op) as Op;
}
