// Per-uplink probe statistics and the verdict the state machine consumes. Pure: a round of probe
// results in, new stats out.

import type { Verdict } from "./state-machine.js";

export interface ProbeRound {
  /** How many targets answered, and how many were asked. */
  readonly answered: number;
  readonly asked: number;
  /** RTTs of the answers, ms. */
  readonly rttsMs: readonly number[];
}

export interface Thresholds {
  /** A round succeeds when at least this many targets answered. */
  readonly quorum: number;
  readonly failuresBeforeDegraded: number;
  readonly failuresBeforeDown: number;
  readonly successesToRecover: number;
  /** Latency and loss that make an uplink degraded... */
  readonly degradedRttMs: number;
  readonly degradedLossPct: number;
  /** ...and the stricter ones it must meet again to count as recovered (hysteresis). */
  readonly recoverRttMs: number;
  readonly recoverLossPct: number;
  /** Rounds in the loss window. */
  readonly window: number;
  /** EWMA factor for the smoothed RTT (0..1, weight of the newest sample). */
  readonly rttAlpha: number;
}

export interface Stats {
  readonly rounds: number;
  /** Outcome of the last `window` rounds, newest last. */
  readonly recent: readonly boolean[];
  readonly consecutiveFailures: number;
  readonly consecutiveSuccesses: number;
  readonly srttMs?: number;
  readonly lossPct: number;
  readonly successRate: number;
}

export const EMPTY_STATS: Stats = {
  rounds: 0,
  recent: [],
  consecutiveFailures: 0,
  consecutiveSuccesses: 0,
  lossPct: 0,
  successRate: 0,
};

export function record(s: Stats, r: ProbeRound, t: Thresholds): Stats {
  const success = r.answered >= Math.min(t.quorum, r.asked) && r.asked > 0;
  const recent = [...s.recent, success].slice(-t.window);
  const failures = recent.filter((x) => !x).length;
  const mean = r.rttsMs.length > 0 ? r.rttsMs.reduce((a, b) => a + b, 0) / r.rttsMs.length : undefined;
  const srttMs =
    mean === undefined ? s.srttMs : s.srttMs === undefined ? mean : s.srttMs + t.rttAlpha * (mean - s.srttMs);
  return {
    rounds: s.rounds + 1,
    recent,
    consecutiveFailures: success ? 0 : s.consecutiveFailures + 1,
    consecutiveSuccesses: success ? s.consecutiveSuccesses + 1 : 0,
    ...(srttMs === undefined ? {} : { srttMs }),
    lossPct: (100 * failures) / recent.length,
    successRate: (recent.length - failures) / recent.length,
  };
}

export function verdict(s: Stats, t: Thresholds): Verdict {
  if (s.rounds === 0) return "unknown";
  if (s.consecutiveFailures >= t.failuresBeforeDown) return "bad";
  const slow = s.srttMs !== undefined && s.srttMs > t.degradedRttMs;
  if (s.consecutiveFailures >= t.failuresBeforeDegraded || slow || s.lossPct > t.degradedLossPct)
    return "degraded";
  const fast = s.srttMs === undefined || s.srttMs <= t.recoverRttMs;
  if (s.consecutiveSuccesses >= t.successesToRecover && fast && s.lossPct <= t.recoverLossPct) return "good";
  return "unknown";
}
