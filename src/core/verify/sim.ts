// The daemon's pure step driven in simulated time against the model kernel: a world (the kernel, each
// uplink's carrier and whether its far end answers) and a loop that performs the step's intents the
// way daemon/daemon.ts does — transact on the model kernel, a full pass after every trigger, probe
// rounds through each uplink's own source address.
import type { KernelState, Op, Route } from "../../kinds/types.js";
import type { PlannerInputs } from "../plan/inputs.js";
import { canonicalState } from "../../kinds/registry.js";
import { defaultRules } from "../../kinds/ip/rule.js";
import { formatPrefix, networkOf, parseInterfacePrefix } from "../../util/prefix.js";
import { applyOps } from "../model-kernel/index.js";
import { patchLink } from "../decide/fast-path.js";
import {
  initialState,
  startedOn,
  step,
  type DaemonEvent,
  type DaemonState,
  type Intent,
  type PassResult,
  type TxOutcome,
} from "../decide/daemon-step.js";
import type { EffectivePolicy } from "../../policy/types.js";
import type { Selection } from "../selection/types.js";

/** A node as the kernel has it: the default rules, and a connected route with each address. */
export function withConnected(k: KernelState): KernelState {
  const connected: Route[] = k.address
    .filter((a) => a.family === 4)
    .map((a) => ({
      kind: "route",
      family: 4,
      table: 254,
      type: "unicast",
      dst: formatPrefix(networkOf(parseInterfacePrefix(a.local))),
      metric: 0,
      protocol: 2,
      scope: "link",
      dev: a.dev,
      prefsrc: a.local.split("/")[0]!,
    }));
  const rules = k.rule.length > 0 ? k.rule : defaultRules();
  return canonicalState({ ...k, rule: rules, route: [...k.route, ...connected] });
}

/** One thing that happens to the node, `dt` ms after the previous one. */
export type WorldEvent =
  | { readonly dt: number; readonly type: "carrier"; readonly iface: string; readonly up: boolean }
  | { readonly dt: number; readonly type: "answers"; readonly iface: string; readonly answers: boolean }
  | { readonly dt: number; readonly type: "round"; readonly iface: string }
  | { readonly dt: number; readonly type: "periodic" };

/** A transaction the simulated daemon asked for. */
export interface SimTransaction {
  readonly at: number;
  readonly before: KernelState;
  readonly ops: readonly Op[];
  readonly inputs: PlannerInputs;
  /** The interfaces of the uplinks the plan's selection found usable. */
  readonly usable: readonly string[];
}

/** A pass the simulated daemon finished, with what it knew then. */
export interface SimPass {
  readonly at: number;
  readonly result: PassResult;
  /** The selection in force before the pass. */
  readonly before: Selection | undefined;
  /** The daemon's state right after the pass. */
  readonly state: DaemonState;
  /** The kernel after the pass. */
  readonly kernel: KernelState;
}

/** The daemon's decision step (a test may hand in a broken one to see `verify` catch it). */
export type StepFn = typeof step;

export interface Sim {
  readonly policy: EffectivePolicy;
  readonly step: StepFn;
  now: number;
  state: DaemonState;
  kernel: KernelState;
  readonly carrier: Map<string, boolean>;
  readonly answers: Map<string, boolean>;
  readonly passes: SimPass[];
  /** Every transaction the step asked for: the kernel it started from, its ops, the uplinks usable then. */
  readonly transactions: SimTransaction[];
  /** Outcome of the next transaction (default: applied). */
  nextTx?: TxOutcome;
}

export function startSim(
  policy: EffectivePolicy,
  kernel: KernelState,
  now: number,
  stepFn: StepFn = step,
): Sim {
  const state = startedOn(initialState(policy, "sim", now), kernel);
  const ifaces = kernel.link.map((l) => l.name);
  return {
    policy,
    step: stepFn,
    now,
    state,
    kernel,
    carrier: new Map(kernel.link.map((l) => [l.name, l.carrier])),
    answers: new Map(ifaces.map((i) => [i, true])),
    passes: [],
    transactions: [],
  };
}

/** Feed one event to the step and perform its intents; a trigger runs a full pass afterwards. */
export function dispatch(sim: Sim, e: DaemonEvent): void {
  const before = sim.state.selection;
  const r = sim.step(sim.state, e, sim.now);
  sim.state = r.state;
  let pass = false;
  for (const i of r.intents) pass = perform(sim, i, before) || pass;
  if (pass) fullPass(sim, "trigger");
}

function perform(sim: Sim, i: Intent, before: Selection | undefined): boolean {
  switch (i.type) {
    case "transact": {
      const outcome = sim.nextTx ?? "applied";
      sim.nextTx = undefined;
      const usable = (sim.state.pending?.pass.desired.selection.verdicts ?? [])
        .filter((v) => v.usable)
        .map((v) => v.iface);
      sim.transactions.push({ at: sim.now, before: sim.kernel, ops: i.ops, inputs: i.inputs, usable });
      if (outcome === "applied") {
        const r = applyOps(sim.kernel, i.ops);
        if (!r.ok) throw new Error(`the model kernel refused a checked plan: ${r.error}`);
        sim.kernel = r.state;
      }
      dispatch(sim, { type: "transacted", outcome, ...(outcome === "applied" ? {} : { error: "injected" }) });
      return false;
    }
    case "pass":
      sim.passes.push({ at: sim.now, result: i.result, before, state: sim.state, kernel: sim.kernel });
      return false;
    case "trigger":
      return true;
    default:
      return false;
  }
}

export function fullPass(sim: Sim, reason: string): void {
  dispatch(sim, { type: "observed", observed: sim.kernel, usage: {}, battery: false, triggers: [reason] });
}

/** Advance time and let one world event happen. */
export function happen(sim: Sim, e: WorldEvent): void {
  sim.now += e.dt;
  switch (e.type) {
    case "carrier": {
      sim.carrier.set(e.iface, e.up);
      sim.kernel = patchLink(sim.kernel, { ifname: e.iface, deleted: false, adminUp: true, carrier: e.up });
      dispatch(sim, {
        type: "link",
        change: { ifname: e.iface, deleted: false, adminUp: true, carrier: e.up },
        usage: {},
        battery: false,
      });
      return;
    }
    case "answers":
      sim.answers.set(e.iface, e.answers);
      return;
    case "round": {
      const name = sim.state.inputs?.uplinks.find((u) => u.iface === e.iface)?.name;
      const source = name === undefined ? undefined : sim.state.probeSources.get(name);
      if (name === undefined || source === undefined) return;
      const through = sim.carrier.get(e.iface) === true && sim.answers.get(e.iface) === true;
      const round = through ? { answered: 1, asked: 1, rttsMs: [10] } : { answered: 0, asked: 1, rttsMs: [] };
      dispatch(sim, { type: "round", uplink: name, source, round, usage: {} });
      return;
    }
    case "periodic":
      fullPass(sim, "periodic");
  }
}
