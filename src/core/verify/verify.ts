// `backhaul verify`: does this policy keep the node online under every failure sequence? The daemon's
// own pure step (core/decide/daemon-step.ts) is driven in simulated time on the model kernel
// (sim.ts) through generated event histories for the policy's own uplinks, and after every pass the
// design's invariants and the policy-level properties are checked. A failing history is shrunk by
// fast-check and replayed into a timeline for people. Pure but for the random source fast-check
// seeds: the same policy and seed give the same answer.
import fc from "fast-check";
import type { EffectivePolicy, Uplink } from "../../policy/types.js";
import { canonicalState, emptyState } from "../../kinds/registry.js";
import { dhcpClientOf, dhcpDir, scopeOf } from "../../kinds/services/dhcp-client.js";
import type { Address, KernelState, Link, Route } from "../../kinds/types.js";
import type { LinkClass } from "../../kinds/link-class.js";
import { lookup } from "../model-kernel/index.js";
import { checkPlan } from "../invariants.js";
import { invariantContext } from "../reconcile.js";
import { voluntary } from "../decide/switching.js";
import { fullPass, happen, startSim, withConnected, type Sim, type StepFn, type WorldEvent } from "./sim.js";

export type PropertyName =
  "invariants" | "reaches-usable-uplink" | "switch-limit" | "emergency-only" | "hotspot-activation";

export interface Violation {
  readonly property: PropertyName;
  /** Milliseconds since the history began. */
  readonly at: number;
  readonly message: string;
  /** The policy settings that decide it (JSON pointers). */
  readonly pointers: readonly string[];
}

export interface Counterexample {
  /** The seed and path that replay it (`--seed S`; fast-check's path of the shrunk case). */
  readonly seed: number;
  readonly path: string;
  readonly events: readonly WorldEvent[];
  /** What happened, for people: "t=3.200s eth0 loses carrier", "t=3.201s switch fibre → lte (physical)". */
  readonly timeline: readonly string[];
  readonly violation: Violation;
}

export type VerifyResult =
  | { readonly ok: true; readonly runs: number; readonly seed: number }
  | {
      readonly ok: false;
      readonly runs: number;
      readonly seed: number;
      readonly counterexample: Counterexample;
    };

export interface VerifyOptions {
  readonly runs: number;
  readonly seed: number;
  /** Most events in one history. */
  readonly maxEvents?: number;
  /** The decision step to drive (the daemon's; tests plant broken ones to see them caught). */
  readonly step?: StepFn;
}

const T0 = Date.UTC(2026, 0, 1, 0, 0, 0);
const CLASS_OF: Readonly<Record<string, LinkClass>> = {
  ethernet: "ethernet",
  wifi: "wifi",
  lte: "lte",
  "usb-tether": "usb-tether",
  "bt-pan": "bt-pan",
};

const simLink = (name: string, index: number, linkClass: LinkClass): Link => ({
  kind: "link",
  name,
  index,
  linkClass,
  adminUp: true,
  carrier: true,
  operState: "up",
  mtu: 1500,
});

/** The interface an uplink gets in the simulated node: its own, or one its `match` finds. */
function simInterface(u: Uplink, i: number): string {
  if (u.interface !== undefined) return u.interface;
  const name = u.match?.name;
  if (name === undefined) return `sim${i}`;
  // A name the glob matches: each wildcard stands for a digit, a class for its first character.
  return name
    .replace(/\[!?([^\]])[^\]]*\]/g, "$1")
    .replace(/\*/g, String(i))
    .replace(/\?/g, "0");
}

/**
 * The node a history starts from: every uplink's interface up with an address and a gateway (the
 * policy's, or one in the address's subnet), the default routes a DHCP client or the operator left in
 * the main table, and the hotspot's interface.
 */
export function simulatedNode(policy: EffectivePolicy): { kernel: KernelState; ifaces: string[] } {
  const links: Link[] = [];
  const addresses: Address[] = [];
  const routes: Route[] = [];
  const ifaces = policy.uplinks.map(simInterface);
  const clients = [];
  for (const [i, u] of policy.uplinks.entries()) {
    const iface = ifaces[i]!;
    const gw =
      u.gateway !== "auto" && /^\d+\.\d+\.\d+\.\d+$/.test(u.gateway) ? u.gateway : `10.${100 + i}.0.1`;
    const [a, b, c, d] = gw.split(".").map(Number) as [number, number, number, number];
    const local = `${a}.${b}.${c}.${d === 2 ? 3 : 2}/24`;
    links.push({
      ...simLink(iface, 10 + i, u.kind ?? CLASS_OF[u.match?.kind ?? ""] ?? "ethernet"),
      ...(u.match?.driver === undefined ? {} : { driver: u.match.driver }),
    });
    addresses.push({ kind: "address", family: 4, dev: iface, local, scope: "global" });
    if (u.addressing === "dhcp")
      clients.push({
        ...dhcpClientOf(dhcpDir(policy.daemon.stateDir, scopeOf(undefined)), iface),
        pid: 1000 + i,
        lease: { address: local, router: gw, dns: [gw], seconds: 3600 },
      });
    else
      routes.push({
        kind: "route",
        family: 4,
        table: 254,
        type: "unicast",
        dst: "0.0.0.0/0",
        metric: 100 + i,
        protocol: 4,
        scope: "global",
        gateway: gw,
        dev: iface,
      });
  }
  const h = policy.hotspot;
  if (h !== undefined && !ifaces.includes(h.interface)) {
    links.push(simLink(h.interface, 9, "wifi"));
    addresses.push({ kind: "address", family: 4, dev: h.interface, local: h.address, scope: "global" });
  }
  const kernel = withConnected(
    canonicalState({
      ...emptyState(),
      link: links,
      address: addresses,
      route: routes,
      "dhcp-client": clients,
    }),
  );
  return { kernel, ifaces };
}

/**
 * World events over the uplinks' interfaces: carrier changes, gray failures (the far end stops or
 * resumes answering) and periodic passes. Probe rounds are not generated: the prober's come every
 * interval (play below), as in the daemon.
 */
export function worldEvents(
  ifaces: readonly string[],
  maxEvents: number,
  maxGapMs: number,
): fc.Arbitrary<WorldEvent[]> {
  const iface = fc.constantFrom(...ifaces);
  const dt = fc.integer({ min: 0, max: maxGapMs });
  const event: fc.Arbitrary<WorldEvent> = fc.oneof(
    {
      weight: 2,
      arbitrary: fc.record({ dt, type: fc.constant("carrier" as const), iface, up: fc.boolean() }),
    },
    {
      weight: 2,
      arbitrary: fc.record({ dt, type: fc.constant("answers" as const), iface, answers: fc.boolean() }),
    },
    { weight: 1, arbitrary: fc.record({ dt, type: fc.constant("periodic" as const) }) },
  );
  return fc.array(event, { maxLength: maxEvents });
}

class PropertyFailed extends Error {
  constructor(readonly violation: Violation) {
    super(violation.message);
  }
}

const secs = (ms: number) => `${(ms / 1000).toFixed(3)}s`;

/** Where general traffic leaves the simulated node now (a documentation address stands for the internet). */
function generalDev(k: KernelState): string | undefined {
  const r = lookup(k, { dst: "192.0.2.1" });
  return r.kind === "route" ? r.nexthops[0]?.dev : undefined;
}

/** Check the properties on every pass the history produced; the first violation, if any. */
function check(policy: EffectivePolicy, sim: Sim, start: number): Violation | undefined {
  const uplinkIndex = (name: string) => policy.uplinks.findIndex((u) => u.name === name);
  // The design's invariants after every op prefix of every plan the step asked for.
  for (const t of sim.transactions) {
    const v = checkPlan(t.before, t.ops, invariantContext(t.inputs, t.before, t.usable));
    if (!v.ok)
      return {
        property: "invariants",
        at: t.at - start,
        message: `after op ${v.step} of ${t.ops.length}: ${v.violations.map((x) => `${x.invariant}: ${x.message}`).join("; ")}`,
        pointers: ["/routing"],
      };
  }
  const switches: number[] = [];
  for (const p of sim.passes) {
    const at = p.at - start;
    const r = p.result;
    if (r.outcome === "failed" && r.error?.startsWith("planning failed") === true)
      return {
        property: "invariants",
        at,
        message: `no plan keeps the invariants: ${r.error}`,
        pointers: ["/routing", "/selection/noUsableUplink"],
      };
    if (r.outcome !== "applied" && r.outcome !== "no-change") continue;
    const sel = r.selection;
    if (sel === undefined) continue;
    const ifaceOf = (n: string) => p.state.inputs?.uplinks.find((u) => u.name === n)?.iface;
    const usable = sel.verdicts.filter((v) => v.usable).map((v) => v.name);
    const dev = generalDev(p.kernel);
    if (usable.length > 0 && !usable.some((n) => ifaceOf(n) === dev))
      return {
        property: "reaches-usable-uplink",
        at,
        message: `${usable.join(", ")} usable, but general traffic ${dev === undefined ? "has no route" : `leaves by ${dev}`}`,
        pointers: ["/selection/strategy", ...usable.map((n) => `/uplinks/${uplinkIndex(n)}`)],
      };
    // Leaving an emergency-only fallback for a primary uplink is what emergency-only demands, not a
    // choice the switch limit may hold back.
    const fromFallback = (p.before?.active ?? []).some(
      (a) => policy.uplinks[uplinkIndex(a.name)]?.use === "emergency-only",
    );
    if (
      r.switched !== undefined &&
      r.switched.cause !== "start" &&
      !fromFallback &&
      voluntary(p.before, sel)
    ) {
      switches.push(p.at);
      const { switches: most, window } = policy.selection.rateLimit;
      const recent = switches.filter((t) => p.at - t < window);
      if (recent.length > most)
        return {
          property: "switch-limit",
          at,
          message: `${recent.length} voluntary switches within ${secs(window)}, more than the limit of ${most}`,
          pointers: ["/selection/rateLimit"],
        };
    }
    const normalUsable = usable.filter((n) => policy.uplinks[uplinkIndex(n)]?.use === "normal");
    const emergency = sel.active.filter((a) => policy.uplinks[uplinkIndex(a.name)]?.use === "emergency-only");
    if (emergency.length > 0 && normalUsable.length > 0)
      return {
        property: "emergency-only",
        at,
        message: `emergency-only ${emergency.map((a) => a.name).join(", ")} carries traffic while ${normalUsable.join(", ")} is usable`,
        pointers: emergency.map((a) => `/uplinks/${uplinkIndex(a.name)}/use`),
      };
    const h = policy.hotspot;
    const act = p.state.hotspot?.activation;
    if (h !== undefined && act !== undefined && p.kernel.link.some((l) => l.name === h.interface)) {
      const running = p.kernel.hostapd.some((x) => x.iface === h.interface);
      if (running !== act.up)
        return {
          property: "hotspot-activation",
          at,
          message: `the hotspot should be ${act.up ? "up" : "down"} (${act.why}) but its access point ${running ? "runs" : "does not run"}`,
          pointers: ["/hotspot/activate", "/hotspot/holdDown"],
        };
    }
  }
  return undefined;
}

/**
 * How long an uplink must have been working (carrier, answers) before general traffic must be able to
 * leave by a working uplink: the probes' verdicts and every hold-down on the way, with rounds to spare.
 */
export function reachBoundMs(policy: EffectivePolicy): number {
  const p = policy.probes;
  const h = p.holdDown;
  const round = p.interval + p.timeout;
  const holds = h.upToDegraded + h.degradedToDown + h.downToProbing + h.probingToUp;
  return holds + 2 * p.minStateDuration + (p.failuresBeforeDown + p.successesToRecover + 3) * round;
}

/** Every history ends with a quiet spell of twice the reach bound, so what it led to is seen. */
function withSettling(policy: EffectivePolicy, events: readonly WorldEvent[]): WorldEvent[] {
  return [...events, { dt: 2 * reachBoundMs(policy), type: "periodic" }];
}

/** Play the history: its events, with the prober's rounds through every uplink each interval. */
function play(
  sim: Sim,
  events: readonly WorldEvent[],
  ifaces: readonly string[],
  onTick: () => void,
  onEvent: (e: WorldEvent, at: number) => void = () => undefined,
): void {
  const interval = sim.policy.probes.interval;
  let nextRound = sim.now + interval;
  for (const e of events) {
    const until = sim.now + e.dt;
    while (nextRound <= until) {
      sim.now = nextRound;
      for (const iface of ifaces) happen(sim, { dt: 0, type: "round", iface });
      nextRound += interval;
      onTick();
    }
    onEvent(e, until);
    happen(sim, { ...e, dt: until - sim.now });
    onTick();
  }
}

/**
 * The world's truth, checked at every moment: once some uplink has worked for the reach bound,
 * general traffic leaves by an uplink that works, whatever the daemon believes.
 */
function truthChecker(policy: EffectivePolicy, sim: Sim, ifaces: readonly string[]) {
  const bound = reachBoundMs(policy);
  const since = new Map<string, number>(ifaces.map((i) => [i, sim.now]));
  const allowed = new Set(ifaces.filter((_, i) => policy.uplinks[i]?.use !== "never"));
  let badSince: number | undefined;
  return (): Violation | undefined => {
    for (const i of ifaces) {
      const works = sim.carrier.get(i) === true && sim.answers.get(i) === true;
      if (!works) since.delete(i);
      else if (!since.has(i)) since.set(i, sim.now);
    }
    const long = [...since].filter(([i, t]) => allowed.has(i) && sim.now - t >= bound).map(([i]) => i);
    const dev = generalDev(sim.kernel);
    // Traffic that leaves by a working uplink is fine; one that lost its way gets the bound to be found.
    if (dev !== undefined && since.has(dev)) {
      badSince = undefined;
      return undefined;
    }
    badSince ??= sim.now;
    if (long.length === 0 || sim.now - badSince < bound) return undefined;
    const names = long.map((i) => policy.uplinks[ifaces.indexOf(i)]?.name ?? i);
    return {
      property: "reaches-usable-uplink",
      at: sim.now - T0,
      message: `${names.join(", ")} has worked for ${secs(bound)} or more, but general traffic ${dev === undefined ? "has had no route" : `has left by ${dev}, which does not work,`} for ${secs(sim.now - badSince)}`,
      // What keeps a working uplink from being chosen, or traffic from staying: written lines only show.
      pointers: [
        "/selection/noUsableUplink",
        "/selection/maxRtt",
        "/selection/maxLoss",
        "/selection/thresholds",
        "/probes/holdDown",
        ...long.map((i) => `/uplinks/${ifaces.indexOf(i)}`),
      ],
    };
  };
}

/** Run one history; throws PropertyFailed on the first violation. */
function runHistory(
  policy: EffectivePolicy,
  kernel: KernelState,
  ifaces: readonly string[],
  events: readonly WorldEvent[],
  stepFn?: StepFn,
): Sim {
  const sim = startSim(policy, kernel, T0, stepFn);
  fullPass(sim, "start");
  const truth = truthChecker(policy, sim, ifaces);
  let first: Violation | undefined;
  play(sim, withSettling(policy, events), ifaces, () => {
    first ??= truth();
  });
  // The end of the history: a pass with everything that happened known.
  fullPass(sim, "end");
  const found = [check(policy, sim, T0), first].filter((x): x is Violation => x !== undefined);
  const v = found.sort((a, b) => a.at - b.at)[0];
  if (v !== undefined) throw new PropertyFailed(v);
  return sim;
}

/** The history as people read it: what happened to the node, and what the daemon did. */
function timelineOf(
  policy: EffectivePolicy,
  kernel: KernelState,
  ifaces: readonly string[],
  events: readonly WorldEvent[],
  stepFn?: StepFn,
) {
  const names = new Map(policy.uplinks.map((u, i) => [ifaces[i]!, u.name]));
  const out = [`t=0.000s ${policy.uplinks.map((u, i) => `${u.name} (${ifaces[i]}) up`).join(", ")}`];
  const sim = startSim(policy, kernel, T0, stepFn);
  let seen = 0;
  const passes = () => {
    for (const p of sim.passes.slice(seen)) {
      const r = p.result;
      if (r.switched !== undefined)
        out.push(
          `t=${secs(p.at - T0)} switch ${r.switched.from.join("+") || "none"} → ${r.switched.to.join("+") || "none"} (${r.switched.cause}): ${r.switched.reason}`,
        );
      else if (r.outcome !== "no-change" && r.outcome !== "applied")
        out.push(`t=${secs(p.at - T0)} pass ${r.outcome}: ${r.error ?? ""}`);
    }
    seen = sim.passes.length;
  };
  fullPass(sim, "start");
  passes();
  play(sim, withSettling(policy, events), ifaces, passes, (e, at) => {
    const t = `t=${secs(at - T0)}`;
    const who = e.type === "periodic" ? "" : `${names.get(e.iface) ?? e.iface} (${e.iface})`;
    if (e.type === "carrier") out.push(`${t} ${who} ${e.up ? "gets its carrier back" : "loses carrier"}`);
    if (e.type === "answers")
      out.push(`${t} ${who} ${e.answers ? "answers again" : "stops answering (gray failure)"}`);
  });
  fullPass(sim, "end");
  passes();
  return out;
}

export function verifyPolicy(policy: EffectivePolicy, o: VerifyOptions): VerifyResult {
  const { kernel, ifaces } = simulatedNode(policy);
  // Gaps up to a little more than the reach bound: long enough for every hold-down to run out.
  const arb = worldEvents(ifaces, o.maxEvents ?? 24, Math.ceil(reachBoundMs(policy) * 1.2));
  const r = fc.check(
    fc.property(arb, (events) => {
      runHistory(policy, kernel, ifaces, events, o.step);
    }),
    { numRuns: o.runs, seed: o.seed },
  );
  if (!r.failed) return { ok: true, runs: r.numRuns, seed: o.seed };
  const events = r.counterexample?.[0] ?? [];
  let violation: Violation;
  try {
    runHistory(policy, kernel, ifaces, events, o.step);
    throw new Error("the shrunk counterexample did not fail again");
  } catch (e) {
    if (!(e instanceof PropertyFailed)) throw r.errorInstance instanceof Error ? r.errorInstance : e;
    violation = e.violation;
  }
  return {
    ok: false,
    runs: r.numRuns,
    seed: o.seed,
    counterexample: {
      seed: o.seed,
      path: r.counterexamplePath ?? "",
      events,
      timeline: [
        ...timelineOf(policy, kernel, ifaces, events, o.step),
        `t=${secs(violation.at)} VIOLATED ${violation.property}: ${violation.message}`,
      ],
      violation,
    },
  };
}
