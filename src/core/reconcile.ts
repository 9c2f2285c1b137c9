// One reconcile step, end to end and pure: compute the desired state, plan with every invariant checked
// on the model kernel, classify, document. `plan`, `apply` and the daemon's passes all call planChecked
// with what they observed, probed and loaded; nothing here reads or writes anything.
import type { KernelState, Op, Ownership } from "../kinds/types.js";
import { checkInvariants, checkPlan, genericDestinations, type InvariantContext } from "./invariants.js";
import { applyOps, lookup } from "./model-kernel/index.js";
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
    ...(inputs.dhcp === undefined ? {} : { dhcp: inputs.dhcp }),
    ...(inputs.hotspot === undefined ? {} : { hotspot: inputs.hotspot }),
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
  // The usable uplinks come from the selection itself, so the checker knows what must stay reachable.
  const ctxOf = (d: Desired): InvariantContext =>
    invariantContext(
      inputs,
      desired.observed,
      d.selection.verdicts.filter((v) => v.usable).map((v) => v.iface),
    );
  const pass = planPass({
    desired,
    ownership: inputs.ownership,
    policyDigest,
    checkFor: (d) => modelCheck(ctxOf(d)),
    routeFor,
    ...extra,
  });
  return extra.towards === undefined || !pass.ok
    ? pass
    : keptDriftChecked(pass, desired.observed, inputs.ownership, ctxOf(pass.desired));
}

/**
 * A plan towards a state that keeps drift must hold the invariants at its end as the desired state
 * would: the prefix check excuses what was broken before the plan, and kept drift was.
 */
function keptDriftChecked(
  pass: PlanPass & { ok: true },
  observed: KernelState,
  own: Ownership,
  ctx: InvariantContext,
): PlanPass {
  const violations = (ops: readonly Op[]): string[] => {
    const end = applyOps(observed, ops);
    return end.ok ? checkInvariants(end.state, ctx).map((v) => `${v.invariant}: ${v.message}`) : [end.error];
  };
  const healing = plan(observed, pass.desired.state, own);
  const healed = new Set(healing.ok ? violations(healing.ops) : []);
  const kept = violations(pass.ops).filter((v) => !healed.has(v));
  if (kept.length === 0) return pass;
  return {
    ok: false,
    desired: pass.desired,
    error: {
      reason: "invariant",
      step: pass.ops.length,
      op: undefined,
      violations: kept,
      message: `keeping the drift breaks an invariant: ${kept.join("; ")}`,
    },
  };
}
