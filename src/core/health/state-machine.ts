// The uplink health state machine: Probing → Up → Degraded → Down → Probing, with hold-downs and a
// minimum state duration so a flapping uplink does not flap the routes. A pure function of
// (machine, observation, time): the daemon feeds it what the prober and the kernel say.
//
// Rules (hold-downs are how long a condition must persist before the transition it asks for):
// - physical loss (carrier, address or link gone) goes to Down at once, bypassing every timer;
// - Up → Degraded after `upToDegraded` of a degraded or bad verdict;
// - Degraded → Down after `degradedToDown` of a bad verdict; Degraded → Probing on a good verdict;
// - Down → Probing once physically present and at least `downToProbing` has passed in Down, with a
//   verdict that is not bad (the uplink answers again);
// - Probing → Up after `probingToUp` of a good verdict; Probing → Down on a bad verdict;
// - no transition but physical loss sooner than `minStateDuration` after the last one.
// So recovery to Up only ever happens through Probing.

export type HealthState = "probing" | "up" | "degraded" | "down";

/** The prober's summary of recent probes (see stats.ts). */
export type Verdict = "good" | "degraded" | "bad" | "unknown";

export interface HoldDowns {
  readonly upToDegradedMs: number;
  readonly degradedToDownMs: number;
  readonly downToProbingMs: number;
  readonly probingToUpMs: number;
  readonly minStateDurationMs: number;
}

/** Reference defaults (15s/30s/60s/10s/5s); the policy's probe section overrides them. */
export const DEFAULT_HOLD_DOWNS: HoldDowns = {
  upToDegradedMs: 15_000,
  degradedToDownMs: 30_000,
  downToProbingMs: 60_000,
  probingToUpMs: 10_000,
  minStateDurationMs: 5_000,
};

export interface Observation {
  /** Link present, admin up, carrier, and an address: the uplink could carry traffic at all. */
  readonly physical: { readonly ok: true } | { readonly ok: false; readonly why: string };
  readonly verdict: Verdict;
}

export interface Machine {
  readonly state: HealthState;
  /** When the current state was entered (epoch ms). */
  readonly since: number;
  readonly reason: string;
  /** The condition currently pending toward a transition, and since when it has held. */
  readonly pending?: { readonly toward: HealthState; readonly since: number };
}

export function initialMachine(now: number): Machine {
  return { state: "probing", since: now, reason: "starting" };
}

/** Where the observation pushes from the current state, and the hold-down that applies. */
function target(
  m: Machine,
  o: Observation,
  h: HoldDowns,
  now: number,
): { toward: HealthState; holdMs: number; reason: string } | undefined {
  switch (m.state) {
    case "up":
      if (o.verdict === "degraded" || o.verdict === "bad")
        return { toward: "degraded", holdMs: h.upToDegradedMs, reason: `probes ${o.verdict}` };
      return undefined;
    case "degraded":
      if (o.verdict === "bad")
        return { toward: "down", holdMs: h.degradedToDownMs, reason: "probes failing" };
      if (o.verdict === "good") return { toward: "probing", holdMs: 0, reason: "probes recovered" };
      return undefined;
    case "down":
      if (o.verdict !== "bad" && now - m.since >= h.downToProbingMs)
        return { toward: "probing", holdMs: 0, reason: "answering again" };
      return undefined;
    case "probing":
      if (o.verdict === "good") return { toward: "up", holdMs: h.probingToUpMs, reason: "probes healthy" };
      if (o.verdict === "bad") return { toward: "down", holdMs: 0, reason: "probes failing" };
      return undefined;
  }
}

export function step(m: Machine, o: Observation, now: number, h: HoldDowns): Machine {
  if (!o.physical.ok) {
    if (m.state !== "down") return { state: "down", since: now, reason: o.physical.why };
    return m.pending === undefined ? m : { state: "down", since: m.since, reason: m.reason };
  }
  const t = target(m, o, h, now);
  if (t === undefined)
    return m.pending === undefined ? m : { state: m.state, since: m.since, reason: m.reason };
  const pendingSince = m.pending?.toward === t.toward ? m.pending.since : now;
  const held = now - pendingSince >= t.holdMs;
  const settled = now - m.since >= h.minStateDurationMs;
  if (held && settled) return { state: t.toward, since: now, reason: t.reason };
  return {
    state: m.state,
    since: m.since,
    reason: m.reason,
    pending: { toward: t.toward, since: pendingSince },
  };
}

/** The hold-down that governs a non-physical transition from → to (for properties and docs). */
export function holdDownFor(from: HealthState, to: HealthState, h: HoldDowns): number {
  if (from === "up" && to === "degraded") return h.upToDegradedMs;
  if (from === "degraded" && to === "down") return h.degradedToDownMs;
  if (from === "down" && to === "probing") return h.downToProbingMs;
  if (from === "probing" && to === "up") return h.probingToUpMs;
  return 0;
}
