// One probe round of one uplink: every target at once, bound to the uplink's source address, with a
// random start offset per target so rounds of several uplinks do not synchronize.
import type { ProbeRound } from "../../core/health/stats.js";
import { probe, type ProbeResult, type ProbeTarget } from "./probes.js";

export interface RoundOptions {
  /** Bind every probe to this address (undefined: unbound, the general path). */
  readonly source: string | undefined;
  readonly timeoutMs: number;
  /** Up to this many ms of random delay before each target's probe. */
  readonly jitterMs: number;
  readonly random?: () => number;
}

export interface RoundResult extends ProbeRound {
  readonly results: readonly { readonly target: ProbeTarget; readonly result: ProbeResult }[];
  readonly bytes: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function probeRound(targets: readonly ProbeTarget[], o: RoundOptions): Promise<RoundResult> {
  const random = o.random ?? Math.random;
  const results = await Promise.all(
    targets.map(async (target) => {
      const delay = Math.floor(random() * o.jitterMs);
      if (delay > 0) await sleep(delay);
      return { target, result: await probe(target, o.source, o.timeoutMs) };
    }),
  );
  const ok = results.filter((r) => r.result.ok);
  return {
    answered: ok.length,
    asked: results.length,
    rttsMs: ok.flatMap((r) => (r.result.rttMs === undefined ? [] : [r.result.rttMs])),
    results,
    bytes: results.reduce((n, r) => n + r.result.bytes, 0),
  };
}

/** The round reached the policy's quorum (at most every target it asked). */
export function reachesQuorum(r: ProbeRound, quorum: number): boolean {
  return r.answered >= Math.min(quorum, r.asked);
}
