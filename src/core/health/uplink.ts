// One uplink's health as the daemon tracks it: probe statistics plus the state machine, fed by probe
// rounds and by what the kernel says about the link. Pure: every function returns a new value.
import { EMPTY_STATS, record, verdict, type ProbeRound, type Stats, type Thresholds } from "./stats.js";
import { step, initialMachine, type HoldDowns, type Machine, type Observation } from "./state-machine.js";
import type { Probes } from "../../policy/types.js";
import { linkProblem, type ObservedIndex } from "../selection/gateway.js";
import type { Health, UplinkSpec } from "../selection/types.js";

export interface HealthConfig {
  readonly thresholds: Thresholds;
  readonly holdDowns: HoldDowns;
}

/** Weight of the newest sample in the smoothed RTT: TCP's 1/8 (RFC 6298). */
const RTT_ALPHA = 1 / 8;

export function healthConfig(p: Probes): HealthConfig {
  return {
    thresholds: {
      quorum: p.quorum,
      failuresBeforeDegraded: p.failuresBeforeDegraded,
      failuresBeforeDown: p.failuresBeforeDown,
      successesToRecover: p.successesToRecover,
      degradedRttMs: p.degradedRtt,
      degradedLossPct: p.degradedLoss,
      recoverRttMs: p.recoverRtt,
      recoverLossPct: p.recoverLoss,
      window: p.lossWindow,
      rttAlpha: RTT_ALPHA,
    },
    holdDowns: {
      upToDegradedMs: p.holdDown.upToDegraded,
      degradedToDownMs: p.holdDown.degradedToDown,
      downToProbingMs: p.holdDown.downToProbing,
      probingToUpMs: p.holdDown.probingToUp,
      minStateDurationMs: p.minStateDuration,
    },
  };
}

export interface Tracked {
  readonly machine: Machine;
  readonly stats: Stats;
  /** The last physical observation, so a probe round steps the machine with it. */
  readonly physical: Observation["physical"];
}

export function track(now: number): Tracked {
  return { machine: initialMachine(now), stats: EMPTY_STATS, physical: { ok: true } };
}

/** Can the uplink carry traffic at all: link present, up, carrier, and an IPv4 address. */
export function physicalOf(spec: UplinkSpec, ix: ObservedIndex): Observation["physical"] {
  const problem = linkProblem(spec.iface, ix);
  if (problem !== undefined) return { ok: false, why: problem };
  if (!(ix.addresses.get(spec.iface) ?? []).some((a) => a.family === 4))
    return { ok: false, why: "no IPv4 address" };
  return { ok: true };
}

function advance(
  t: Tracked,
  stats: Stats,
  physical: Observation["physical"],
  now: number,
  c: HealthConfig,
): Tracked {
  const machine = step(t.machine, { physical, verdict: verdict(stats, c.thresholds) }, now, c.holdDowns);
  // The way back (Down → Probing → Up) is judged on fresh evidence: Probing after Down starts with no
  // rounds (a loss window full of old failures would hold a recovered uplink back for a whole window),
  // and so does Down after a physical loss (rounds from before the link went away say nothing). Down
  // from failing probes keeps its failures: it leaves Down only once the uplink answers again.
  const entered = machine.state !== t.machine.state;
  const fresh =
    entered &&
    ((machine.state === "probing" && t.machine.state === "down") ||
      (machine.state === "down" && !physical.ok));
  return { machine, stats: fresh ? EMPTY_STATS : stats, physical };
}

/** A probe round finished. */
export function onRound(t: Tracked, round: ProbeRound, now: number, c: HealthConfig): Tracked {
  return advance(t, record(t.stats, round, c.thresholds), t.physical, now, c);
}

/** The kernel was observed (a pass, or a link event). */
export function onPhysical(
  t: Tracked,
  physical: Observation["physical"],
  now: number,
  c: HealthConfig,
): Tracked {
  return advance(t, t.stats, physical, now, c);
}

/** What selection needs to know. */
export function healthOf(t: Tracked): Health {
  const s = t.stats;
  return {
    state: t.machine.state,
    since: t.machine.since,
    reason: t.machine.reason,
    ...(s.srttMs === undefined ? {} : { rttMs: s.srttMs }),
    ...(s.rounds === 0 ? {} : { lossPct: s.lossPct, successRate: s.successRate }),
  };
}

/** The state changed between two snapshots (a pass is due). */
export const transitioned = (a: Tracked, b: Tracked): boolean => a.machine.state !== b.machine.state;
