// The daemon's decisions as one pure step: (state, event, now) → (state', intents). Every choice the
// daemon makes — health from rounds and from the kernel, the restart grace, the switch limit, the
// switch's cause, the fast path's trigger, when to ask for a pass — is made here; the class around it
// (daemon/daemon.ts) only performs the intents (transact, configure the prober, log, trigger a pass)
// and feeds their results back as events. `backhaul verify` drives this same step in simulated time.
import type { KernelState, Op } from "../../kinds/types.js";
import { keyOf, objectOfOp } from "../../kinds/registry.js";
import type { EffectivePolicy } from "../../policy/types.js";
import { applyOps } from "../model-kernel/index.js";
import { driftItems, leavingDrift, type DriftItem } from "../drift.js";
import { layoutFor, type DesiredInput, type Layout } from "../plan/desired.js";
import { plannerInputs, type PlannerInputs } from "../plan/inputs.js";
import { desiredInputOf, planChecked, type PlanPass } from "../reconcile.js";
import { assumedHealth } from "../selection/assume.js";
import { indexObserved } from "../selection/gateway.js";
import { select, toPrevious } from "../selection/select.js";
import type { Health, PreviousSelection, Selection } from "../selection/types.js";
import {
  healthConfig,
  healthOf,
  onPhysical,
  onRound,
  physicalOf,
  track,
  transitioned,
  type Tracked,
} from "../health/uplink.js";
import type { ProbeRound } from "../health/stats.js";
import { plainEqual } from "../../util/canonical.js";
import { linkLost, patchLink, type LinkChange } from "./fast-path.js";
import {
  activationDue,
  initialActivation,
  stepActivation,
  type Activation,
  type ActivationInput,
} from "./hotspot-activation.js";
import {
  limitReason,
  sameActive,
  switchCause,
  voluntary,
  withinWindow,
  type SwitchCause,
} from "./switching.js";

export type Usage = DesiredInput["usage"];

/** One probe loop the prober should run: the uplink, its source address, time between rounds. */
export interface ProbeAssignment {
  readonly name: string;
  readonly source: string;
  readonly intervalMs: number;
}

export type TxOutcome = "applied" | "rolled-back" | "rollback-failed";
export type PassOutcome = "no-change" | TxOutcome | "failed";

/** A change of what the kernel routes general traffic through. */
export interface Switched {
  readonly from: readonly string[];
  readonly to: readonly string[];
  readonly cause: SwitchCause;
  readonly reason: string;
}

/** What one pass decided and what came of it (timings are the caller's: they are measured). */
export interface PassResult {
  readonly path: "full" | "fast";
  readonly triggers: readonly string[];
  readonly outcome: PassOutcome;
  readonly ops: readonly Op[];
  readonly selection?: Selection;
  readonly error?: string;
  readonly switched?: Switched;
  /** Drifted objects of ours this pass put back. */
  readonly healed?: number;
  /** The fast path sent a plan made ahead of the event (prepareFastPlans). */
  readonly prepared?: true;
}

/** A transaction asked for and not yet answered: what settling it needs. */
interface Pending {
  readonly path: "full" | "fast";
  readonly triggers: readonly string[];
  readonly observed: KernelState;
  readonly inputs: PlannerInputs;
  readonly pass: Extract<PlanPass, { ok: true }>;
  readonly previous: Selection | undefined;
  readonly policyChanged: boolean;
  readonly policyDigest: string;
  readonly physicallyLost: ReadonlySet<string>;
  readonly battery: boolean;
  readonly at: number;
  /** Drifted objects of ours the plan puts back. */
  readonly healed: number;
  /** The plan was made ahead of the event. */
  readonly prepared: boolean;
}

export interface DaemonState {
  readonly policy: EffectivePolicy;
  /** The network namespace the daemon runs for (undefined: the root one). */
  readonly netns?: string;
  readonly digest: string;
  /** The policy changed since the last pass that took: the next switch's cause is "policy". */
  readonly policyChanged: boolean;
  readonly startedAt: number;
  readonly tracked: ReadonlyMap<string, Tracked>;
  readonly selection?: Selection;
  /** The active set the kernel held at start: hysteresis input until the first selection. */
  readonly kernelPrevious?: PreviousSelection;
  /** The uplinks the kernel routed general traffic through when the daemon started. */
  readonly carriedAtStart: ReadonlySet<string>;
  /** Times of the voluntary-limit-counted switches, for the switch limit. */
  readonly switchTimes: readonly number[];
  /** The kernel as the daemon last knew it (the fast path patches it); undefined when unknown. */
  readonly known?: KernelState;
  /** What the last pass that took wanted of ours: drift is measured against it. */
  readonly baseline?: KernelState;
  /** The planner inputs of the last pass (which interface stands for which uplink). */
  readonly inputs?: PlannerInputs;
  /** The prober's loops as last configured: a round from any other source says nothing. */
  readonly probeSources: ReadonlyMap<string, string>;
  /** What the last full pass found changed behind the daemon's back since the pass before. */
  readonly drift: readonly DriftItem[];
  readonly pending?: Pending;
  /** The hotspot's activation (a policy hotspot that may run), and the uplinks usable when last stepped. */
  readonly hotspot?: { readonly activation: Activation; readonly usable: readonly string[] };
  /** Carrier-loss plans made ahead for the active uplinks' links (prepareFastPlans). */
  readonly ready?: readonly ReadyFastPlan[];
}

/**
 * The fast path's plan for losing one active uplink's carrier, computed (and checked against every
 * invariant) ahead of the event, on the facts it names: the event uses it only while they all still
 * hold and selection, made again at the event, picks the same uplinks the same way.
 */
export interface ReadyFastPlan {
  readonly change: LinkChange;
  readonly known: KernelState;
  readonly selection: Selection | undefined;
  readonly digest: string;
  readonly hotspot: DaemonState["hotspot"];
  readonly drift: readonly DriftItem[];
  readonly pass: Extract<PlanPass, { ok: true }>;
}

export type DaemonEvent =
  /** A full pass observed the kernel (inputs: the planner inputs of that observation, if computed). */
  | {
      readonly type: "observed";
      readonly observed: KernelState;
      readonly inputs?: PlannerInputs;
      readonly usage: Usage;
      readonly battery: boolean;
      readonly triggers: readonly string[];
    }
  /** A full pass could not observe: nothing is known about the kernel now. */
  /** A full pass that could not decide: observing the kernel, or what follows it, threw. */
  | { readonly type: "pass-failed"; readonly triggers: readonly string[]; readonly error: string }
  /** A kernel link event. */
  | { readonly type: "link"; readonly change: LinkChange; readonly usage: Usage; readonly battery: boolean }
  /** One probe round of one uplink, from one source address. */
  | {
      readonly type: "round";
      readonly uplink: string;
      readonly source: string;
      readonly round: ProbeRound;
      readonly usage: Usage;
    }
  /** A new valid policy. */
  | { readonly type: "policy"; readonly policy: EffectivePolicy; readonly digest: string }
  /** The answer to a `transact` intent ("failed": it threw before it could say what it did). */
  | { readonly type: "transacted"; readonly outcome: TxOutcome | "failed"; readonly error?: string };

export type Intent =
  | {
      readonly type: "transact";
      readonly observed: KernelState;
      readonly ops: readonly Op[];
      readonly inputs: PlannerInputs;
    }
  | { readonly type: "probe"; readonly assignments: readonly ProbeAssignment[] }
  | { readonly type: "trigger"; readonly reason: string }
  | { readonly type: "pass"; readonly result: PassResult }
  | {
      readonly type: "log";
      readonly level: "info" | "warn";
      readonly message: string;
      readonly fields: Readonly<Record<string, unknown>>;
    }
  /** Health moved without a pass: the status may differ. */
  | { readonly type: "changed" }
  /** New drift was found: the whole of it now (for the webhook). */
  | { readonly type: "drift"; readonly items: readonly DriftItem[] };

export interface Step {
  readonly state: DaemonState;
  readonly intents: readonly Intent[];
}

const driftId = (d: DriftItem): string => `${d.class} ${d.kind} ${d.key}`;

/** The active set the kernel holds now, as selection's hysteresis input (after a restart). */
export function previousFromKernel(
  observed: KernelState,
  inputs: PlannerInputs,
  layout: Layout,
): PreviousSelection | undefined {
  const route = observed.route.find(
    (r) =>
      r.table === layout.activeTable &&
      r.family === 4 &&
      r.dst === "0.0.0.0/0" &&
      r.protocol === inputs.routing.protocol,
  );
  if (route === undefined) return undefined;
  const byIface = new Map(inputs.uplinks.map((u) => [u.iface, u.name]));
  const hops =
    route.nexthops?.map((h) => ({ dev: h.dev, weight: h.weight ?? 1 })) ??
    (route.dev === undefined ? [] : [{ dev: route.dev, weight: 1 }]);
  const active = hops.flatMap((h) => {
    const name = byIface.get(h.dev);
    return name === undefined ? [] : [{ name, weight: h.weight, score: 0 }];
  });
  return active.length === 0 ? undefined : { active, usable: active.map((a) => a.name) };
}

/** The state of a daemon that has not looked at the kernel yet. */
export function initialState(
  policy: EffectivePolicy,
  digest: string,
  now: number,
  netns?: string,
): DaemonState {
  return {
    policy,
    ...(netns === undefined ? {} : { netns }),
    digest,
    policyChanged: false,
    startedAt: now,
    tracked: new Map(),
    carriedAtStart: new Set(),
    switchTimes: [],
    probeSources: new Map(),
    drift: [],
  };
}

/** The kernel as the daemon found it at start (after recovering any journal): what it routes through. */
export function startedOn(s: DaemonState, observed: KernelState): DaemonState {
  const inputs = plannerInputs(s.policy, observed, s.netns);
  const kernelPrevious = previousFromKernel(observed, inputs, layoutFor(inputs.uplinks, inputs.routing));
  return {
    ...s,
    ...(kernelPrevious === undefined ? {} : { kernelPrevious }),
    carriedAtStart: new Set((kernelPrevious?.active ?? []).map((a) => a.name)),
  };
}

/** What the next selection's hysteresis starts from. */
function previousOf(s: DaemonState): PreviousSelection | undefined {
  return s.selection === undefined ? s.kernelPrevious : toPrevious(s.selection);
}

/**
 * Health as selection sees it. Right after a restart the uplink the kernel already routes through
 * keeps traffic until its own probes have had a fair chance (the Probing hold-down and two rounds):
 * otherwise whichever uplink is verified first would take over, and traffic would move away and back
 * for nothing. Failing probes or a physical loss end the grace at once (the uplink leaves Probing).
 */
export function healthAt(s: DaemonState, now: number): Record<string, Health> {
  const p = s.policy.probes;
  const graceEnds = s.startedAt + p.holdDown.probingToUp + 2 * (p.interval + p.timeout);
  return Object.fromEntries(
    [...s.tracked].map(([n, t]): [string, Health] => {
      if (s.carriedAtStart.has(n) && now < graceEnds && t.machine.state === "probing" && t.physical.ok)
        return [
          n,
          {
            ...assumedHealth("up", t.machine.since),
            reason: "carried traffic before the restart; its probes are not in yet",
          },
        ];
      return [n, healthOf(t)];
    }),
  );
}

/** The interfaces of the uplinks carrying general traffic (as selected, or as found at start). */
export function activeIfaces(s: DaemonState): Set<string> {
  const names = new Set((s.selection?.active ?? previousOf(s)?.active ?? []).map((a) => a.name));
  return new Set((s.inputs?.uplinks ?? []).filter((u) => names.has(u.name)).map((u) => u.iface));
}

const transitionLog = (name: string, a: Tracked, b: Tracked): Intent => ({
  type: "log",
  level: "info",
  message: `uplink ${name} ${a.machine.state} → ${b.machine.state}: ${b.machine.reason}`,
  fields: { uplink: name, from: a.machine.state, to: b.machine.state, reason: b.machine.reason },
});

export function step(s: DaemonState, e: DaemonEvent, now: number): Step {
  switch (e.type) {
    case "observed": {
      // Passes are serialized by the caller; an observation during a transaction would plan on a
      // kernel that is about to change, so it only asks again.
      if (s.pending !== undefined)
        return { state: s, intents: [{ type: "trigger", reason: "pass overlapped" }] };
      const inputs = e.inputs ?? plannerInputs(s.policy, e.observed, s.netns);
      // Drift: what differs from what the last pass wanted (someone changed it meanwhile); a policy
      // change moves the baseline, so it is not drift.
      const own = inputs.ownership;
      const drift =
        s.baseline !== undefined && !s.policyChanged
          ? driftItems(e.observed, s.baseline, own, { uplinkSources: [...s.probeSources.values()] })
          : s.drift;
      const seen = new Set(s.drift.map(driftId));
      const news: Intent[] = drift
        .filter((d) => !seen.has(driftId(d)))
        .map((d) => ({
          type: "log",
          level: "warn",
          message: `drift (${d.class}): ${d.detail}`,
          fields: { drift: { class: d.class, kind: d.kind, key: d.key } },
        }));
      const report: Intent[] = news.length > 0 ? [{ type: "drift", items: drift }] : [];
      const r = decide({ ...s, drift }, e.observed, inputs, e, "full", e.triggers, now);
      return { state: r.state, intents: [...news, ...report, ...r.intents] };
    }
    case "pass-failed":
      return failed({ ...s, known: undefined }, "full", e.triggers, e.error);
    case "link": {
      const reason = `link ${e.change.ifname}`;
      // Every link event asks for a full pass; losing an active uplink's link also takes the fast path
      // on the last known kernel, unless a transaction is in flight (its pass decides with fresh facts).
      const trigger: Intent = { type: "trigger", reason };
      if (!linkLost(e.change) || !activeIfaces(s).has(e.change.ifname) || s.known === undefined || s.pending)
        return { state: s, intents: [trigger] };
      const patched = patchLink(s.known, e.change);
      const ready = s.ready?.find(
        (r) =>
          r.known === s.known &&
          r.selection === s.selection &&
          r.digest === s.digest &&
          r.hotspot === s.hotspot &&
          r.drift === s.drift &&
          sameChange(r.change, e.change),
      );
      const r = decide(
        s,
        patched,
        plannerInputs(s.policy, patched, s.netns),
        e,
        "fast",
        [`${reason} lost`],
        now,
        ready,
      );
      return { state: r.state, intents: [...r.intents, trigger] };
    }
    case "round": {
      const t = s.tracked.get(e.uplink);
      // A round of an uplink no longer in the policy, or from an address it no longer has, says nothing.
      if (t === undefined || s.probeSources.get(e.uplink) !== e.source) return { state: s, intents: [] };
      const next = onRound(t, e.round, now, healthConfig(s.policy.probes));
      const state = { ...s, tracked: new Map(s.tracked).set(e.uplink, next) };
      if (transitioned(t, next))
        return {
          state,
          intents: [
            transitionLog(e.uplink, t, next),
            { type: "trigger", reason: `health ${e.uplink} ${t.machine.state}→${next.machine.state}` },
            { type: "changed" },
          ],
        };
      return {
        state,
        intents: decisionMoved(state, e.usage, now)
          ? [{ type: "trigger", reason: `probes ${e.uplink}` }]
          : [],
      };
    }
    case "policy":
      if (e.digest === s.digest) return { state: s, intents: [] };
      return {
        state: { ...s, policy: e.policy, digest: e.digest, policyChanged: true },
        intents: [{ type: "trigger", reason: "policy" }],
      };
    case "transacted": {
      if (s.pending === undefined) return { state: s, intents: [] };
      const { pending, ...rest } = s;
      if (e.outcome === "failed")
        return failed(rest, pending.path, pending.triggers, e.error ?? "the transaction failed");
      return settle(rest, pending, e.outcome, e.error);
    }
  }
}

/**
 * Would selection decide differently now? A round can move a score across the switch margin or a
 * threshold without changing the uplink's state; the check is pure and cheap, a pass is not.
 */
function decisionMoved(s: DaemonState, usage: Usage, now: number): boolean {
  const current = s.selection;
  if (s.known === undefined || s.inputs === undefined || current === undefined) return false;
  const next = select(desiredInputOf(s.inputs, s.known, healthAt(s, now), usage, previousOf(s)));
  const usable = (x: Selection) =>
    x.verdicts
      .filter((v) => v.usable)
      .map((v) => v.name)
      .join(",");
  return !sameActive(current, next) || usable(current) !== usable(next);
}

function failed(s: DaemonState, path: "full" | "fast", triggers: readonly string[], error: string): Step {
  return {
    state: { ...s, known: undefined },
    intents: [{ type: "pass", result: { path, triggers, outcome: "failed", ops: [], error } }],
  };
}

/** Health from the kernel's facts, the desired state, the plan with the switch limit applied. */
function decide(
  s0: DaemonState,
  observed: KernelState,
  inputs: PlannerInputs,
  facts: { readonly usage: Usage; readonly battery: boolean },
  path: "full" | "fast",
  triggers: readonly string[],
  now: number,
  ready?: ReadyFastPlan,
): Step {
  const ix = indexObserved(observed);
  const cfg = healthConfig(s0.policy.probes);
  const logs: Intent[] = [];
  const tracked = new Map<string, Tracked>();
  for (const u of inputs.uplinks) {
    const before = s0.tracked.get(u.name) ?? track(now);
    const after = onPhysical(before, physicalOf(u, ix), now, cfg);
    if (transitioned(before, after)) logs.push(transitionLog(u.name, before, after));
    tracked.set(u.name, after);
  }
  const health = healthAt({ ...s0, tracked }, now);
  // The fast path only moves general traffic: the hotspot is stepped by the full pass right after it,
  // so the carrier-loss path does not select twice.
  const hotspot =
    path === "fast" && s0.hotspot !== undefined
      ? s0.hotspot
      : activated({ ...s0, tracked }, observed, inputs, health, facts.usage, now);
  if (hotspot !== undefined && hotspot.activation.up !== s0.hotspot?.activation.up)
    logs.push({
      type: "log",
      level: "info",
      message: `hotspot ${hotspot.activation.up ? "up" : "down"}: ${hotspot.activation.why}`,
      fields: { hotspot: { up: hotspot.activation.up, why: hotspot.activation.why } },
    });
  const planInputs: PlannerInputs =
    hotspot === undefined || inputs.hotspot === undefined
      ? inputs
      : {
          ...inputs,
          hotspot: {
            ...inputs.hotspot,
            raise: { up: hotspot.activation.up, why: hotspot.activation.why },
          },
        };
  const s: DaemonState = {
    ...s0,
    tracked,
    inputs: planInputs,
    ...(hotspot === undefined ? {} : { hotspot }),
  };
  const base = desiredInputOf(planInputs, observed, health, facts.usage, previousOf(s));
  const ownDrift = s.drift.filter((d) => d.class !== "conflict");
  const leave = !s.policy.daemon.drift.heal && ownDrift.length > 0;
  const planWith = (desired: DesiredInput, heal = !leave): PlanPass =>
    planChecked(desired, planInputs, s.digest, heal ? {} : { towards: (d) => leavingDrift(d, s.drift) });
  const preparedPass = ready === undefined ? undefined : readyPass(ready, base);
  let pass = preparedPass ?? planWith(base);
  let healingPlan = !leave;
  if (leave && !pass.ok) {
    // Leaving the drift would break an invariant: safety comes before the policy's wish to only report.
    logs.push({
      type: "log",
      level: "warn",
      message: `putting drift back although heal is off: leaving it would break the plan (${pass.error.message})`,
      fields: { drift: { heal: false, forced: true } },
    });
    pass = planWith(base, true);
    healingPlan = true;
  }
  const prev = s.selection;
  if (
    pass.ok &&
    !s.policyChanged &&
    !sameActive(prev, pass.desired.selection) &&
    voluntary(prev, pass.desired.selection)
  ) {
    const limit = {
      switches: s.policy.selection.rateLimit.switches,
      windowMs: s.policy.selection.rateLimit.window,
    };
    const held = limitReason(s.switchTimes, now, limit);
    if (held !== undefined) pass = planWith({ ...base, holdActive: held }, healingPlan);
  }
  if (!pass.ok) {
    const r = failed(s, path, triggers, `planning failed: ${pass.error.message}`);
    return { state: r.state, intents: [...logs, ...r.intents] };
  }
  const pending: Pending = {
    path,
    triggers,
    observed,
    inputs: planInputs,
    pass,
    previous: prev,
    policyChanged: s.policyChanged,
    policyDigest: s.digest,
    physicallyLost: new Set([...tracked].filter(([, t]) => !t.physical.ok).map(([n]) => n)),
    battery: facts.battery,
    at: now,
    prepared: preparedPass !== undefined && pass === preparedPass,
    healed: healingPlan
      ? ownDrift.filter((d) =>
          pass.ops.some((op) => objectOfOp(op).kind === d.kind && keyOf(objectOfOp(op)) === d.key),
        ).length
      : 0,
  };
  if (pass.ops.length === 0) {
    const r = settle(s, pending, undefined, undefined);
    return { state: r.state, intents: [...logs, ...r.intents] };
  }
  return {
    state: { ...s, pending },
    intents: [...logs, { type: "transact", observed, ops: pass.ops, inputs: planInputs }],
  };
}

/** The same news of a link (an event carries more than a LinkChange: its index, flags, time). */
const sameChange = (a: LinkChange, b: LinkChange): boolean =>
  a.ifname === b.ifname && a.deleted === b.deleted && a.adminUp === b.adminUp && a.carrier === b.carrier;

/**
 * The uplinks a selection routes by and how: what the desired state is built from (its reasons and
 * scores, which carry times and the latest probe figures, aside).
 */
function routingOf(x: Selection): unknown {
  return {
    strategy: x.strategy,
    active: x.active,
    ranked: x.ranked,
    noneUsable: x.noneUsable,
    switched: x.switched,
    verdicts: x.verdicts.map((v) => [v.name, v.iface, v.attached, v.usable, v.tier, v.attachments]),
  };
}

/**
 * The prepared plan when selection, made now, routes as it did when the plan was made: its ops,
 * their disruption classes and its invariant check stand; the selection (its reasons) is today's.
 */
function readyPass(ready: ReadyFastPlan, base: DesiredInput): PlanPass | undefined {
  const selection = select({ ...base, observed: indexObserved(base.observed) });
  if (!plainEqual(routingOf(selection), routingOf(ready.pass.desired.selection))) return undefined;
  return { ...ready.pass, desired: { ...ready.pass.desired, selection } };
}

/**
 * Plan ahead for the loss of each active uplink's carrier, on what the daemon knows now, so the
 * event only checks that the facts still hold and sends the plan. Pure, like step; the daemon calls
 * it after a pass, when it is idle.
 */
export function prepareFastPlans(
  s: DaemonState,
  facts: { readonly usage: Usage; readonly battery: boolean },
  now: number,
): DaemonState {
  const known = s.known;
  if (known === undefined || s.pending !== undefined) return s.ready === undefined ? s : { ...s, ready: [] };
  const ready = [...activeIfaces(s)].flatMap((ifname): ReadyFastPlan[] => {
    const change: LinkChange = { ifname, deleted: false, adminUp: true, carrier: false };
    const patched = patchLink(known, change);
    const r = decide(s, patched, plannerInputs(s.policy, patched, s.netns), facts, "fast", [], now);
    const pass = r.state.pending?.pass;
    if (pass === undefined) return [];
    return [
      { change, known, selection: s.selection, digest: s.digest, hotspot: s.hotspot, drift: s.drift, pass },
    ];
  });
  return { ...s, ready };
}

/** What a pass's outcome means for the daemon: its knowledge of the kernel, the selection, switches. */
function settle(s: DaemonState, p: Pending, tx: TxOutcome | undefined, txError: string | undefined): Step {
  const outcome: PassOutcome = tx ?? "no-change";
  const took = outcome === "no-change" || outcome === "applied";
  const selection = p.pass.desired.selection;
  const intents: Intent[] = [];
  // What the kernel holds now: after a verified apply, the model's result of the ops; after a
  // rollback nobody knows until the next observation.
  const result =
    tx === undefined ? { ok: true as const, state: p.observed } : applyOps(p.observed, p.pass.ops);
  let switched: Switched | undefined;
  let switchTimes = s.switchTimes;
  if (took && result.ok) {
    const names = (st: KernelState) =>
      (previousFromKernel(st, p.inputs, p.pass.desired.layout)?.active ?? []).map((a) => a.name).sort();
    // A kernel that carries nothing (the active interface went, and its routes with it) was carrying
    // what the last selection chose until then.
    const shown = names(p.observed);
    const from = shown.length > 0 ? shown : (p.previous?.active.map((a) => a.name).sort() ?? []);
    const to = names(result.state);
    if (from.join(",") !== to.join(",")) {
      const cause = switchCause(from, to, selection, p.previous, {
        policyChanged: p.policyChanged,
        physicallyLost: p.physicallyLost,
      });
      switched = { from, to, cause, reason: selection.reason };
      // The first choice after start is not churn.
      if (cause !== "start")
        switchTimes = [
          ...withinWindow(switchTimes, p.at, { switches: 0, windowMs: s.policy.selection.rateLimit.window }),
          p.at,
        ];
    }
    // Keep-last with nothing usable keeps the route: no switch, but said once.
    if (selection.noneUsable !== undefined && p.previous?.noneUsable === undefined)
      intents.push({
        type: "log",
        level: "warn",
        message: selection.reason,
        fields: { selection: selection.reason },
      });
  }
  const state: DaemonState = {
    ...s,
    switchTimes,
    ...(took && result.ok ? { known: result.state } : { known: undefined }),
    ...(took ? { selection, baseline: p.pass.desired.state } : {}),
    // A policy that arrived while this pass ran is still to be applied.
    policyChanged: took && s.digest === p.policyDigest ? false : s.policyChanged,
  };
  const assignments = probeAssignments(state.policy, p.inputs, selection, p.battery);
  intents.push(
    { type: "probe", assignments },
    {
      type: "pass",
      result: {
        path: p.path,
        triggers: p.triggers,
        outcome,
        ops: p.pass.ops,
        selection,
        ...(txError === undefined ? {} : { error: txError }),
        ...(switched === undefined ? {} : { switched }),
        ...(outcome === "applied" && p.healed > 0 ? { healed: p.healed } : {}),
        ...(p.prepared ? { prepared: true as const } : {}),
      },
    },
  );
  return {
    state: { ...state, probeSources: new Map(assignments.map((a) => [a.name, a.source])) },
    intents,
  };
}

function activationInput(policy: EffectivePolicy, usable: readonly string[]): ActivationInput | undefined {
  const h = policy.hotspot;
  if (h === undefined || h.activate === "never") return undefined;
  return { mode: h.activate, usable, raiseAfterMs: h.holdDown.raise, lowerAfterMs: h.holdDown.lower };
}

/**
 * The hotspot's activation after this pass's facts: stepped with the uplinks usable now. A daemon
 * that starts while our access point runs takes the hotspot as up (a restart does not lower it); one
 * that starts without it does not count uplinks its probes have not judged yet (in Probing with their
 * link up, within the start's grace) as gone, so the hotspot is not raised while they are verified.
 */
function activated(
  s: DaemonState,
  observed: KernelState,
  inputs: PlannerInputs,
  health: Readonly<Record<string, Health>>,
  usage: Usage,
  now: number,
): DaemonState["hotspot"] {
  if (inputs.hotspot === undefined) return undefined;
  const selection = select(desiredInputOf(inputs, observed, health, usage, previousOf(s)));
  const usable = selection.verdicts.filter((v) => v.usable).map((v) => v.name);
  const p = s.policy.probes;
  const graceEnds = s.startedAt + p.holdDown.probingToUp + 2 * (p.interval + p.timeout);
  const unjudged =
    now < graceEnds
      ? [...s.tracked].filter(([, t]) => t.machine.state === "probing" && t.physical.ok).map(([n]) => n)
      : [];
  const input = activationInput(s.policy, usable);
  if (input === undefined) return undefined;
  const iface = inputs.hotspot.hostapd.params.iface;
  const prev: Activation =
    s.hotspot?.activation ??
    (observed.hostapd.some((h) => h.iface === iface)
      ? { mode: input.mode, up: true, since: now, why: "up when the daemon started" }
      : initialActivation({ ...input, usable: [...usable, ...unjudged] }, now));
  // Unjudged uplinks hold back a raise, never count towards a lowering.
  const towards = prev.up ? usable : [...new Set([...usable, ...unjudged])];
  return { activation: stepActivation(prev, { ...input, usable: towards }, now), usable: towards };
}

/** When the hotspot's activation changes next without new facts (its hold-down ends), if it does. */
export function hotspotDue(s: DaemonState): number | undefined {
  if (s.hotspot === undefined) return undefined;
  const input = activationInput(s.policy, s.hotspot.usable);
  return input === undefined ? undefined : activationDue(s.hotspot.activation, input);
}

/** One probe loop per uplink with an IPv4 address, slower on metered uplinks and on battery. */
export function probeAssignments(
  policy: EffectivePolicy,
  inputs: PlannerInputs,
  selection: Selection,
  battery: boolean,
): ProbeAssignment[] {
  const p = policy.probes;
  return selection.verdicts.flatMap((v) => {
    const a = v.attachments.find((x) => x.family === 4);
    const spec = inputs.uplinks.find((u) => u.name === v.name);
    if (a === undefined || spec === undefined) return [];
    const factor = (spec.metered ? p.meteredFactor : 1) * (battery ? p.batteryFactor : 1);
    return [{ name: v.name, source: a.address.split("/")[0]!, intervalMs: p.interval * factor }];
  });
}
