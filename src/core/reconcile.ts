// One reconcile step, end to end and pure: compute the desired state, plan with every invariant checked
// on the model kernel, classify, document. `plan`, `apply` and the daemon's passes all call planChecked
// with what they observed, probed and loaded; nothing here reads or writes anything.
import type { KernelState, Op, Ownership } from "../kinds/types.js";
import { checkPlan, genericDestinations, type InvariantContext } from "./invariants.js";
import { lookup } from "./model-kernel/index.js";
import type { PlannerInputs } from "./plan/inputs.js";
import type { Health, PreviousSelection } from "./selection/types.js";
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
  /** The state to plan towards, from the desired one (the daemon with `heal: false` leaves drift be). */
  readonly towards?: (desired: KernelState) => KernelState;
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
  const target = input.towards?.(desired.state) ?? desired.state;
  const r = plan(observed, target, input.ownership, input.checkFor?.(desired) ?? input.check);
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

/** The invariant context of a desired selection on an observed node. */
export function invariantContext(
  inputs: PlannerInputs,
  observed: KernelState,
  usableIfaces: readonly string[],
): InvariantContext {
  return {
    ownership: inputs.ownership,
    strategy: inputs.params.strategy,
    usableUplinks: usableIfaces,
    killSwitch: false,
    genericDestinations: genericDestinations(observed),
  };
}

/** The planner's check hook, on the model kernel. */
export function modelCheck(ctx: InvariantContext): PlanCheck {
  return (start, ops) => {
    const r = checkPlan(start, ops, ctx);
    return r.ok
      ? { ok: true }
      : { ok: false, step: r.step, violations: r.violations.map((v) => `${v.invariant}: ${v.message}`) };
  };
}

export const routeFor = (state: KernelState, dst: string): unknown => lookup(state, { dst });

/** What the desired state of a node is computed from: the planner's inputs, the kernel, health, usage. */
export function desiredInputOf(
  inputs: PlannerInputs,
  observed: KernelState,
  health: Readonly<Record<string, Health>>,
  usage: DesiredInput["usage"] = {},
  previous?: PreviousSelection,
): DesiredInput {
  return {
    uplinks: inputs.uplinks,
    observed,
    health,
    usage,
    params: inputs.params,
    families: [4],
    routing: inputs.routing,
    qos: inputs.qos,
    ...(inputs.nat === undefined ? {} : { nat: inputs.nat }),
    ...(previous === undefined ? {} : { previous }),
  };
}

/** Plan a node's desired state, every invariant checked on the model kernel after every prefix. */
export function planChecked(
  desired: DesiredInput,
  inputs: PlannerInputs,
  policyDigest: string,
  extra: Pick<PlanPassInput, "managementPeer" | "lastApplied" | "towards"> = {},
): PlanPass {
  return planPass({
    desired,
    ownership: inputs.ownership,
    policyDigest,
    // The usable uplinks come from the selection itself, so the checker knows what must stay reachable.
    checkFor: (d) =>
      modelCheck(
        invariantContext(
          inputs,
          desired.observed,
          d.selection.verdicts.filter((v) => v.usable).map((v) => v.iface),
        ),
      ),
    routeFor,
    ...extra,
  });
}
