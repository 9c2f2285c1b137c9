// The ops that build a state from a fresh namespace (no links, the default rules), in the order the
// kernel accepts them: links up, addresses, routes, rules, then the links meant to be down go down.
// renderState (src/kinds/ip/render.ts) loads a namespace in the same order.
import { keyOf } from "../../kinds/registry.js";
import type { KernelState, Op } from "../../kinds/types.js";
import { emptyState } from "../../kinds/types.js";
import { defaultRules, ModelKernel } from "./kernel.js";

/** A fresh namespace as the model sees it: no links, the kernel's default rules. */
export function freshState(): KernelState {
  return { ...emptyState(), rule: defaultRules() };
}

export function loadOps(state: KernelState): Op[] {
  const ops: Op[] = [];
  for (const l of state.link) ops.push({ op: "add", after: { ...l, adminUp: true } });
  for (const s of state.sysctl) ops.push({ op: "add", after: s });
  for (const a of state.address) ops.push({ op: "add", after: a });
  for (const r of state.route) ops.push({ op: "add", after: r });
  const wanted = new Set(state.rule.map(keyOf));
  const present = defaultRules();
  const have = new Set(present.map(keyOf));
  for (const r of present) if (!wanted.has(keyOf(r))) ops.push({ op: "delete", before: r });
  for (const r of state.rule) if (!have.has(keyOf(r))) ops.push({ op: "add", after: r });
  for (const l of state.link)
    if (!l.adminUp) ops.push({ op: "change", before: { ...l, adminUp: true }, after: l });
  return ops;
}

/**
 * The part of a state the kernel would accept when loaded op by op: every op the model refuses is left
 * out. Returns the resulting state and the refusals.
 */
export function loadableState(state: KernelState): {
  state: KernelState;
  refused: { op: Op; error: string }[];
} {
  const k = ModelKernel.from(freshState());
  const refused: { op: Op; error: string }[] = [];
  for (const op of loadOps(state)) {
    const err = k.apply(op);
    if (err) refused.push({ op, error: err.message });
  }
  return { state: k.state(), refused };
}
