// The daemon's pure step driven in simulated time against the model kernel: a world (the kernel, each
// uplink's carrier, whether its far end answers, which gateway forwards, the bytes through each
// interface, mains or battery) and a loop that performs the step's intents the way daemon/daemon.ts
// does — transact on the model kernel, a full pass after every trigger and kernel event (with the usage
// ledger sampled and the battery read, as the daemon's pass does), probe loops as the prober runs them.
import type { Address, KernelObject, KernelState, Op, Route, Rule } from "../../kinds/types.js";
import type { PlannerInputs } from "../plan/inputs.js";
import { plannerInputs } from "../plan/inputs.js";
import { canonicalState, keyOf, sameObject } from "../../kinds/registry.js";
import { defaultRules } from "../../kinds/ip/rule.js";
import type { DhcpLease } from "../../kinds/services/dhcp-client.js";
import { digest } from "../../util/canonical.js";
import { formatPrefix, networkOf, parseInterfacePrefix } from "../../util/prefix.js";
import { applyOps, ModelKernel, type LookupResult } from "../model-kernel/index.js";
import { patchLink } from "../decide/fast-path.js";
import {
  initialState,
  startedOn,
  step,
  type DaemonEvent,
  type DaemonState,
  type Intent,
  type PassResult,
  type ProbeAssignment,
  type TxOutcome,
  type Usage,
} from "../decide/daemon-step.js";
import type { EffectivePolicy, Metered } from "../../policy/types.js";
import type { Selection } from "../selection/types.js";
import { record, usageOf, type Account, type CounterSample } from "../usage/usage-account.js";

/** Where general traffic and the probes go in the simulated world: a documentation address stands for the internet. */
export const FAR_END = "192.0.2.1";

const host = (a: Address): string => a.local.split("/")[0]!;

/** The connected routes the kernel shows for addresses (as `ip route` lists them in the main table). */
function connectedRoutes(addresses: readonly Address[]): Route[] {
  return addresses
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
      prefsrc: host(a),
    }));
}

/** A node as the kernel has it: the default rules, and a connected route with each address. */
export function withConnected(k: KernelState): KernelState {
  const rules = k.rule.length > 0 ? k.rule : defaultRules();
  return canonicalState({ ...k, rule: rules, route: [...k.route, ...connectedRoutes(k.address)] });
}

const through = (r: Route, dev: string): boolean =>
  r.dev === dev || (r.nexthops ?? []).some((h) => h.dev === dev);

/**
 * The kernel after an interface's IPv4 address is replaced by `to` (undefined: removed). The new one
 * comes first, as a DHCP client's hook does it; removing the old takes its connected route and every
 * route that names it as preferred source, and the device's last address takes every route through it.
 */
export function readdress(k: KernelState, dev: string, to: string | undefined): KernelState {
  const old = k.address.filter((a) => a.dev === dev && a.family === 4);
  const added: Address[] =
    to === undefined || old.some((a) => a.local === to)
      ? []
      : [{ kind: "address", family: 4, dev, local: to, scope: "global" }];
  const gone = new Set(old.filter((a) => a.local !== to).map(host));
  const address = [...k.address.filter((a) => !(a.dev === dev && gone.has(host(a)))), ...added];
  const last = !address.some((a) => a.dev === dev && a.family === 4);
  const route = k.route.filter(
    (r) => !(r.family === 4 && (gone.has(r.prefsrc ?? "") || (last && through(r, dev)))),
  );
  return canonicalState({ ...k, address, route: [...route, ...connectedRoutes(added)] });
}

/** Routes the operator or a DHCP client left in the main table (protocol static), as the node starts. */
export const NODE_PROTOCOL = 4;

/** The main table's default via `dev` (the one the operator or a DHCP client keeps) now via `gateway`. */
function regateway(k: KernelState, dev: string, gateway: string): KernelState {
  const route = k.route.map((r) =>
    r.table === 254 && r.dst === "0.0.0.0/0" && r.dev === dev && r.protocol === NODE_PROTOCOL
      ? { ...r, gateway }
      : r,
  );
  return canonicalState({ ...k, route });
}

/** One thing that happens to the node, `dt` ms after the previous one. */
export type WorldEvent =
  | { readonly dt: number; readonly type: "carrier"; readonly iface: string; readonly up: boolean }
  | { readonly dt: number; readonly type: "answers"; readonly iface: string; readonly answers: boolean }
  | { readonly dt: number; readonly type: "round"; readonly iface: string }
  | { readonly dt: number; readonly type: "periodic" }
  /** The interface's address changes (and with `gateway`, the subnet's router and the main table's default). */
  | {
      readonly dt: number;
      readonly type: "address";
      readonly iface: string;
      readonly address: string;
      readonly gateway?: string;
    }
  /** The router behind the interface changes, and the main table's default via it follows. */
  | { readonly dt: number; readonly type: "gateway"; readonly iface: string; readonly gateway: string }
  /** Our DHCP client's lease is renewed with this address and router, or (absent) lost. */
  | {
      readonly dt: number;
      readonly type: "lease";
      readonly iface: string;
      readonly lease?: { readonly address: string; readonly router: string };
    }
  | { readonly dt: number; readonly type: "battery"; readonly on: boolean }
  /** Someone else adds a rule or a route. */
  | { readonly dt: number; readonly type: "foreign"; readonly object: Rule | Route }
  /** The policy on disk becomes one of the sim's variants. */
  | { readonly dt: number; readonly type: "reload"; readonly variant: number };

/** A policy a reload may bring, and what it changes, for people. */
export interface PolicyVariant {
  readonly policy: EffectivePolicy;
  readonly digest: string;
  readonly what: string;
}

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
  /** The usage the pass was given (the ledger as last sampled). */
  readonly usage: Usage;
  /** The policy on disk then: the one the properties hold the daemon to. */
  readonly policy: EffectivePolicy;
}

/** A configuration of the prober the step asked for, and whether the node was on battery then. */
export interface SimProbes {
  readonly at: number;
  readonly battery: boolean;
  readonly policy: EffectivePolicy;
  readonly assignments: readonly ProbeAssignment[];
}

/** One probe loop as the prober runs it: rounds every `intervalMs` from `source`, the next one `due`. */
interface ProbeLoop {
  readonly source: string;
  intervalMs: number;
  due: number;
}

/** A metered uplink as the last ledger sample resolved it. */
interface MeteredUplink {
  readonly name: string;
  readonly iface: string | undefined;
  readonly metered: Metered;
}

/** The decision step (a test may hand in a broken one to see `verify` catch it). */
export type StepFn = typeof step;

/** What the world holds beyond the kernel: each is empty unless the history sets it up. */
export interface SimWorld {
  /** The gateway that forwards on each interface (absent: whichever the route names). */
  readonly gateways?: ReadonlyMap<string, string>;
  /** Bytes per millisecond general traffic puts through each interface while it leaves by it. */
  readonly rates?: ReadonlyMap<string, number>;
  /** The usage ledger's accounts as the history starts. */
  readonly accounts?: ReadonlyMap<string, Account>;
  /** The policies a reload may bring. */
  readonly variants?: readonly PolicyVariant[];
  /** The network namespace the daemon runs for (a recorded node's). */
  readonly netns?: string;
}

export interface Sim {
  readonly policy: EffectivePolicy;
  /** The policy on disk: the first one until a reload brings another. */
  onDisk: EffectivePolicy;
  readonly step: StepFn;
  now: number;
  state: DaemonState;
  kernel: KernelState;
  readonly carrier: Map<string, boolean>;
  readonly answers: Map<string, boolean>;
  readonly gateways: Map<string, string>;
  /** The lease each interface's DHCP server hands out (a client started again gets it). */
  readonly leases: Map<string, { readonly address: string; readonly router: string }>;
  battery: boolean;
  readonly rates: ReadonlyMap<string, number>;
  /** Bytes through each interface since the history began (its kernel counters). */
  readonly counters: Map<string, number>;
  readonly accounts: Map<string, Account>;
  metered: readonly MeteredUplink[];
  readonly variants: readonly PolicyVariant[];
  /** Foreign rules and routes the world added that are still there. */
  foreign: readonly KernelObject[];
  /** The first foreign object a transaction of the daemon took away. */
  lostForeign?: { readonly at: number; readonly object: KernelObject };
  readonly loops: Map<string, ProbeLoop>;
  readonly passes: SimPass[];
  /** Every transaction the step asked for: the kernel it started from, its ops, the uplinks usable then. */
  readonly transactions: SimTransaction[];
  readonly probes: SimProbes[];
  /** Outcome of the next transaction (default: applied). */
  nextTx?: TxOutcome;
}

export function startSim(
  policy: EffectivePolicy,
  kernel: KernelState,
  now: number,
  stepFn: StepFn = step,
  world: SimWorld = {},
): Sim {
  const state = startedOn(initialState(policy, digest(policy), now, world.netns), kernel);
  const ifaces = kernel.link.map((l) => l.name);
  return {
    policy,
    onDisk: policy,
    step: stepFn,
    now,
    state,
    kernel,
    carrier: new Map(kernel.link.map((l) => [l.name, l.carrier])),
    answers: new Map(ifaces.map((i) => [i, true])),
    gateways: new Map(world.gateways),
    leases: new Map(
      kernel["dhcp-client"].flatMap((c) =>
        c.lease?.router === undefined
          ? []
          : [[c.iface, { address: c.lease.address, router: c.lease.router }] as const],
      ),
    ),
    battery: false,
    rates: world.rates ?? new Map(),
    counters: new Map(ifaces.map((i) => [i, 0])),
    accounts: new Map(world.accounts),
    metered: [],
    variants: world.variants ?? [],
    foreign: [],
    loops: new Map(),
    passes: [],
    transactions: [],
    probes: [],
  };
}

const models = new WeakMap<KernelState, ModelKernel>();

/** A lookup in the simulated kernel (one model per kernel state: many lookups share it). */
export function lookupIn(k: KernelState, q: { dst: string; src?: string }): LookupResult {
  let m = models.get(k);
  if (m === undefined) {
    m = ModelKernel.from(k);
    models.set(k, m);
  }
  return m.lookup(q);
}

/** The interface works in the world: carrier, an address, and the far end answers. */
export function works(sim: Sim, iface: string): boolean {
  return (
    sim.carrier.get(iface) === true &&
    sim.answers.get(iface) === true &&
    sim.kernel.address.some((a) => a.dev === iface && a.family === 4)
  );
}

/** Traffic for the far end gets there: it leaves by an interface that works, to the gateway that forwards. */
export function delivers(sim: Sim, r: LookupResult): string | undefined {
  if (r.kind !== "route") return undefined;
  const h = r.nexthops[0];
  if (h === undefined || !works(sim, h.dev)) return undefined;
  const gw = sim.gateways.get(h.dev);
  return gw === undefined || h.gateway === undefined || h.gateway === gw ? h.dev : undefined;
}

/** Let time pass: general traffic moves bytes through the interface it leaves by, while that works. */
export function advance(sim: Sim, to: number): void {
  if (to > sim.now && sim.rates.size > 0) {
    const dev = delivers(sim, lookupIn(sim.kernel, { dst: FAR_END }));
    const rate = dev === undefined ? undefined : sim.rates.get(dev);
    if (dev !== undefined && rate !== undefined)
      sim.counters.set(dev, (sim.counters.get(dev) ?? 0) + Math.round(rate * (to - sim.now)));
  }
  sim.now = Math.max(sim.now, to);
}

/** An interface's kernel counters as the ledger reads them (undefined: the interface is absent). */
export function countersOf(sim: Sim, iface: string | undefined): CounterSample | undefined {
  const link = sim.kernel.link.find((l) => l.name === iface);
  if (link === undefined) return undefined;
  return {
    iface: link.name,
    ifindex: link.index,
    bootId: "sim",
    rxBytes: sim.counters.get(link.name) ?? 0,
    txBytes: 0,
  };
}

/** The ledger's sample of a full pass: every metered uplink of the policy in force, read now. */
function sample(sim: Sim, inputs: PlannerInputs): void {
  sim.metered = sim.state.policy.uplinks.flatMap((u) =>
    u.metered === undefined
      ? []
      : [{ name: u.name, iface: inputs.uplinks.find((s) => s.name === u.name)?.iface, metered: u.metered }],
  );
  for (const u of sim.metered)
    sim.accounts.set(u.name, record(sim.accounts.get(u.name), u.metered, countersOf(sim, u.iface), sim.now));
}

/** Usage per metered uplink, as the ledger gives it to the step. */
export function usage(sim: Sim): Usage {
  return Object.fromEntries(
    sim.metered.map((u) => {
      const x = usageOf(sim.accounts.get(u.name), u.metered, u.metered.budget, sim.now);
      return [u.name, { usedBytes: x.usedBytes, budgetBytes: x.budgetBytes, exhausted: x.exhausted }];
    }),
  );
}

/** Feed one event to the step and perform its intents; a trigger runs a full pass afterwards. */
export function dispatch(sim: Sim, e: DaemonEvent): void {
  const before = sim.state.selection;
  const r = sim.step(sim.state, e, sim.now);
  sim.state = r.state;
  let pass = false;
  for (const i of r.intents) pass = perform(sim, i, before, "usage" in e ? e.usage : usage(sim)) || pass;
  if (pass) fullPass(sim, "trigger");
}

/**
 * Our DHCP clients' servers answer: a client started gets its lease, one stopped releases its address.
 * True when an address came or went (the kernel monitor's address event asks for a pass).
 */
function dhcpServers(sim: Sim, ops: readonly Op[]): boolean {
  const before = sim.kernel;
  for (const op of ops) {
    if (op.op === "change") continue;
    const c = op.op === "add" ? op.after : op.before;
    if (c.kind !== "dhcp-client") continue;
    const lease = sim.leases.get(c.iface);
    if (op.op === "delete" || lease === undefined) {
      if (op.op === "delete") sim.kernel = readdress(sim.kernel, c.iface, undefined);
      continue;
    }
    const held: DhcpLease = { ...lease, dns: [lease.router], seconds: 3600 };
    sim.kernel = readdress(
      canonicalState({
        ...sim.kernel,
        "dhcp-client": sim.kernel["dhcp-client"].map((x) =>
          x.iface === c.iface ? { ...x, lease: held } : x,
        ),
      }),
      c.iface,
      lease.address,
    );
    sim.gateways.set(c.iface, lease.router);
  }
  return sim.kernel !== before;
}

const present = (k: KernelState, o: KernelObject): boolean =>
  (k[o.kind] as readonly KernelObject[]).some((x) => keyOf(x) === keyOf(o) && sameObject(x, o));

function perform(sim: Sim, i: Intent, before: Selection | undefined, u: Usage): boolean {
  switch (i.type) {
    case "transact": {
      const outcome = sim.nextTx ?? "applied";
      sim.nextTx = undefined;
      const usable = (sim.state.pending?.pass.desired.selection.verdicts ?? [])
        .filter((v) => v.usable)
        .map((v) => v.iface);
      sim.transactions.push({ at: sim.now, before: sim.kernel, ops: i.ops, inputs: i.inputs, usable });
      let addressed = false;
      if (outcome === "applied") {
        const r = applyOps(sim.kernel, i.ops);
        if (!r.ok) throw new Error(`the model kernel refused a checked plan: ${r.error}`);
        sim.kernel = r.state;
        const lost = sim.foreign.find((o) => !present(sim.kernel, o));
        if (lost !== undefined) sim.lostForeign ??= { at: sim.now, object: lost };
        addressed = dhcpServers(sim, i.ops);
      }
      dispatch(sim, { type: "transacted", outcome, ...(outcome === "applied" ? {} : { error: "injected" }) });
      return addressed;
    }
    case "probe": {
      // As the prober configures its loops: a new source starts a loop with a round at once, an
      // unchanged one keeps its rhythm and takes the new interval from its next round on.
      const wanted = new Map(i.assignments.map((a) => [a.name, a]));
      for (const [name, loop] of sim.loops) {
        const a = wanted.get(name);
        if (a === undefined || a.source !== loop.source) sim.loops.delete(name);
        else loop.intervalMs = a.intervalMs;
      }
      for (const a of i.assignments)
        if (!sim.loops.has(a.name))
          sim.loops.set(a.name, { source: a.source, intervalMs: a.intervalMs, due: sim.now });
      sim.probes.push({
        at: sim.now,
        battery: sim.battery,
        policy: sim.onDisk,
        assignments: i.assignments,
      });
      return false;
    }
    case "pass":
      sim.passes.push({
        at: sim.now,
        result: i.result,
        before,
        state: sim.state,
        kernel: sim.kernel,
        usage: u,
        policy: sim.onDisk,
      });
      return false;
    case "trigger":
      return true;
    default:
      return false;
  }
}

/** A full pass as the daemon runs one: observe, sample the usage ledger, read the battery, step. */
export function fullPass(sim: Sim, reason: string): void {
  const inputs = plannerInputs(sim.state.policy, sim.kernel, sim.state.netns);
  sample(sim, inputs);
  dispatch(sim, {
    type: "observed",
    observed: sim.kernel,
    inputs,
    usage: usage(sim),
    battery: sim.battery,
    triggers: [reason],
  });
}

/** The world changed the kernel: foreign objects it took away with it are no longer expected back. */
function changeKernel(sim: Sim, k: KernelState): void {
  sim.kernel = k;
  sim.foreign = sim.foreign.filter((o) => present(k, o));
}

/** The probe loop of an uplink runs one round through its own source address. */
function round(sim: Sim, iface: string): void {
  const name = sim.state.inputs?.uplinks.find((u) => u.iface === iface)?.name;
  const source = name === undefined ? undefined : sim.state.probeSources.get(name);
  if (name === undefined || source === undefined) return;
  // The prober binds the source address: the kernel routes the round, and it gets through only out
  // of this uplink, to the gateway that forwards there, with an address the interface still has.
  const has = sim.kernel.address.some((a) => a.dev === iface && host(a) === source);
  const ok = has && delivers(sim, lookupIn(sim.kernel, { dst: FAR_END, src: source })) === iface;
  const r = ok ? { answered: 1, asked: 1, rttsMs: [10] } : { answered: 0, asked: 1, rttsMs: [] };
  dispatch(sim, { type: "round", uplink: name, source, round: r, usage: usage(sim) });
}

/** The uplink whose probe loop is due first, and when, if any loop runs. */
export function nextRound(sim: Sim): { iface: string; at: number } | undefined {
  let next: { iface: string; at: number } | undefined;
  for (const [name, loop] of sim.loops) {
    const iface = sim.state.inputs?.uplinks.find((u) => u.name === name)?.iface;
    if (iface !== undefined && (next === undefined || loop.due < next.at)) next = { iface, at: loop.due };
  }
  return next;
}

/** Run the round that is due (see nextRound) and schedule the loop's next one. */
export function runRound(sim: Sim, iface: string): void {
  const name = sim.state.inputs?.uplinks.find((u) => u.iface === iface)?.name;
  const loop = name === undefined ? undefined : sim.loops.get(name);
  if (loop !== undefined) loop.due = sim.now + loop.intervalMs;
  round(sim, iface);
}

/** Advance time and let one world event happen. */
export function happen(sim: Sim, e: WorldEvent): void {
  advance(sim, sim.now + e.dt);
  switch (e.type) {
    case "carrier": {
      sim.carrier.set(e.iface, e.up);
      const change = { ifname: e.iface, deleted: false, adminUp: true, carrier: e.up };
      changeKernel(sim, patchLink(sim.kernel, change));
      dispatch(sim, { type: "link", change, usage: usage(sim), battery: sim.battery });
      return;
    }
    case "answers":
      sim.answers.set(e.iface, e.answers);
      return;
    case "round":
      round(sim, e.iface);
      return;
    case "periodic":
      fullPass(sim, "periodic");
      return;
    case "address":
      changeKernel(sim, readdress(sim.kernel, e.iface, e.address));
      if (e.gateway !== undefined) {
        sim.gateways.set(e.iface, e.gateway);
        changeKernel(sim, regateway(sim.kernel, e.iface, e.gateway));
      }
      // The kernel monitor's address event asks for a pass.
      fullPass(sim, `address ${e.iface}`);
      return;
    case "gateway":
      sim.gateways.set(e.iface, e.gateway);
      changeKernel(sim, regateway(sim.kernel, e.iface, e.gateway));
      fullPass(sim, `route ${e.iface}`);
      return;
    case "lease": {
      // The lease hook: the address goes on (or comes off), and the lease is recorded (or removed).
      const held: DhcpLease | undefined =
        e.lease === undefined ? undefined : { ...e.lease, dns: [e.lease.router], seconds: 3600 };
      if (e.lease === undefined) sim.leases.delete(e.iface);
      else {
        sim.leases.set(e.iface, e.lease);
        sim.gateways.set(e.iface, e.lease.router);
      }
      const clients = sim.kernel["dhcp-client"].map((c) => {
        if (c.iface !== e.iface) return c;
        const { lease: _, ...rest } = c;
        return held === undefined ? rest : { ...rest, lease: held };
      });
      const running = clients.some((c) => c.iface === e.iface);
      changeKernel(
        sim,
        readdress(
          canonicalState({ ...sim.kernel, "dhcp-client": clients }),
          e.iface,
          running ? e.lease?.address : undefined,
        ),
      );
      fullPass(sim, `address ${e.iface}`);
      return;
    }
    case "battery":
      // Nothing announces it: the daemon reads the power supply at its next pass.
      sim.battery = e.on;
      return;
    case "foreign": {
      const o = e.object;
      if ((sim.kernel[o.kind] as readonly KernelObject[]).some((x) => keyOf(x) === keyOf(o))) return;
      changeKernel(sim, canonicalState({ ...sim.kernel, [o.kind]: [...sim.kernel[o.kind], o] }));
      sim.foreign = [...sim.foreign, o];
      fullPass(sim, o.kind === "rule" ? "rule" : `route ${o.dev ?? ""}`.trim());
      return;
    }
    case "reload": {
      const v = sim.variants[e.variant];
      if (v === undefined) return;
      sim.onDisk = v.policy;
      dispatch(sim, { type: "policy", policy: v.policy, digest: v.digest });
    }
  }
}
