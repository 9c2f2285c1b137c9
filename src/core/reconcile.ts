// One planning pass, end to end and pure: compute the desired state, plan, classify, document.
// The `plan` verb and the daemon call this with what they observed, probed and loaded.
import type { KernelState, Op, Ownership } from "../kinds/types.js";
import { computeDesired, type Desired, type DesiredInput } from "./plan/desired.js";
import { classify, type Disruption, type RouteFor } from "./plan/disruption.js";
import { buildDocument, type PlanDocument } from "./plan/document.js";
import { plan, type PlanCheck, type PlanFailure } from "./plan/order.js";
import { reasonsFrom } from "./plan/reasons.js";

export interface PlanPassInput {
  readonly desired: DesiredInput;
  readonly ownership: Ownership;
  readonly policyDigest: string;
  /** The invariant checker on the model kernel... */
  readonly check?: PlanCheck;
  /** ...or one made for the computed desired state (it knows which uplinks must stay usable). */
  readonly checkFor?: (desired: Desired) => PlanCheck;
  /** SSH peer of the operator's session, and the lookup that says which route carries traffic to it. */
  readonly managementPeer?: string;
  readonly routeFor?: RouteFor;
  /** Owned state recorded by the last apply, to report objects changed behind our back. */
  readonly lastApplied?: KernelState;
}

export type PlanPass =
  | {
      readonly ok: true;
      readonly desired: Desired;
      readonly ops: readonly Op[];
      readonly disruptions: readonly Disruption[];
      readonly document: PlanDocument;
    }
  | { readonly ok: false; readonly desired: Desired; readonly error: PlanFailure };

export function planPass(input: PlanPassInput): PlanPass {
  const observed = input.desired.observed;
  const desired = computeDesired(input.desired);
  const r = plan(observed, desired.state, input.ownership, input.checkFor?.(desired) ?? input.check);
  if (!r.ok) return { ok: false, desired, error: r.error };
  const disruptions = classify(observed, r.ops, {
    ...(input.managementPeer === undefined ? {} : { managementPeer: input.managementPeer }),
    ...(input.routeFor === undefined ? {} : { routeFor: input.routeFor }),
  });
  const document = buildDocument({
    observed,
    ownership: input.ownership,
    ops: r.ops,
    disruptions,
    reasonFor: reasonsFrom(desired),
    policyDigest: input.policyDigest,
    selection: desired.selection,
    ...(input.lastApplied === undefined ? {} : { lastApplied: input.lastApplied }),
  });
  return { ok: true, desired, ops: r.ops, disruptions, document };
}
