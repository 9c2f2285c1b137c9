// `apply --confirm-when-healthy`: the change confirms itself once the policy's probes pass through the
// new state, that is once the control plane is reachable both through each active uplink's own path
// (probes bound to its address, so its source rule picks its table) and through the general path
// (unbound probes, leaving the way ordinary traffic does: the catch-all rule and the active table).
import type { Probes } from "../../policy/types.js";
import { probeRound, reachesQuorum } from "./round.js";
import type { Selection } from "../../core/selection/types.js";

export interface ProbePath {
  /** For people: "lte's own path (from 100.64.2.2)", "the general path". */
  readonly label: string;
  /** Bind the probes to this address; undefined: unbound. */
  readonly source: string | undefined;
}

export type Verdict = { readonly ok: boolean; readonly reason: string };

/**
 * The paths that must pass: each active uplink's own (by its IPv4 address, from the selection's
 * verdicts), then the general path. `active` names the uplinks the applied plan makes active (a saved
 * plan's own selection; by default this selection's). An empty list when nothing is active: no probe
 * can pass through the new state.
 */
export function pathsToProbe(
  selection: Selection,
  active: readonly string[] = selection.active.map((a) => a.name),
): ProbePath[] {
  if (active.length === 0) return [];
  const own = active.flatMap((name) => {
    const v = selection.verdicts.find((x) => x.name === name);
    const address = v?.attachments.find((t) => t.family === 4)?.address.split("/")[0];
    return address === undefined ? [] : [{ label: `${name}'s own path (from ${address})`, source: address }];
  });
  return [...own, { label: "the general path", source: undefined }];
}

/** One probe round per path, all at once: healthy when every one reaches the policy's quorum. */
export async function probePaths(probes: Probes, paths: readonly ProbePath[]): Promise<Verdict> {
  const rounds = await Promise.all(
    paths.map(async (p) => ({
      path: p,
      round: await probeRound(probes.targets, { source: p.source, timeoutMs: probes.timeout, jitterMs: 0 }),
    })),
  );
  const failed = rounds.filter((r) => !reachesQuorum(r.round, probes.quorum));
  if (failed.length === 0)
    return {
      ok: true,
      reason: rounds.map((r) => `${r.path.label}: ${r.round.answered}/${r.round.asked} answered`).join("; "),
    };
  return {
    ok: false,
    reason: failed
      .map(
        (r) =>
          `${r.path.label}: ${r.round.answered}/${r.round.asked} answered (quorum ${probes.quorum}): ` +
          r.round.results
            .filter((x) => !x.result.ok)
            .map((x) => `${x.target.url}: ${x.result.error}`)
            .join(", "),
      )
      .join("; "),
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Probe every `probes.interval` until a round passes on every path, or until `deadline` (epoch ms):
 * the first round always runs, no later one starts after it. The verdict of the last round says why
 * when none passed.
 */
export async function waitHealthy(
  probes: Probes,
  paths: readonly ProbePath[],
  deadline: number,
): Promise<Verdict> {
  if (paths.length === 0) return { ok: false, reason: "no uplink is active in the new state" };
  for (;;) {
    const started = Date.now();
    const v = await probePaths(probes, paths);
    if (v.ok || Date.now() >= deadline) return v;
    const pause = Math.min(started + probes.interval, deadline) - Date.now();
    if (pause > 0) await sleep(pause);
    if (Date.now() >= deadline) return v;
  }
}
