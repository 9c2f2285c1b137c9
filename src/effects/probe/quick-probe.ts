// Where `plan` (and `apply`) get uplink health when no daemon tells them: `--assume-health` for
// offline previews, or one quick probe round bounded by the policy's probe timeout.
import type { KernelState } from "../../kinds/types.js";
import type { Layout } from "../../core/plan/desired.js";
import type { EffectivePolicy } from "../../policy/types.js";
import { probeRound, reachesQuorum } from "./round.js";
import { assumedHealth } from "../../core/selection/assume.js";
import { hostPrefix } from "../../core/selection/gateway.js";
import type { Health, UplinkSpec } from "../../core/selection/types.js";

export class AssumeHealthError extends Error {
  override name = "AssumeHealthError";
}

/**
 * `--assume-health` as people write it: a bare state for every uplink ("up"), states by uplink
 * ("up:eth0,down:wwan0"), or both ("down,up:eth0": eth0 up, the rest down).
 */
export function parseAssumeHealth(
  spec: string,
  names: readonly string[],
  now: number,
): Record<string, Health> {
  const out: Record<string, Health> = {};
  let fallback: "up" | "down" | undefined;
  for (const part of spec.split(",").map((p) => p.trim())) {
    const m = /^(up|down)(?::(.+))?$/.exec(part);
    if (m === null)
      throw new AssumeHealthError(`--assume-health: "${part}" is not "up", "down", "up:NAME" or "down:NAME"`);
    const state = m[1] as "up" | "down";
    const name = m[2];
    if (name === undefined) fallback = state;
    else if (!names.includes(name))
      throw new AssumeHealthError(
        `--assume-health: no uplink named "${name}" (uplinks: ${names.join(", ")})`,
      );
    else out[name] = assumedHealth(state, now);
  }
  for (const n of names)
    if (out[n] === undefined && fallback !== undefined) out[n] = assumedHealth(fallback, now);
  return out;
}

/** One probe round's health of each uplink, and those it could not measure yet. */
export interface QuickHealth {
  readonly health: Record<string, Health>;
  /** Uplinks with an address whose own path (source rule) is not in place yet: applying it makes them measurable. */
  readonly unprobed: readonly string[];
}

/**
 * One probe round per uplink whose own path is in place (its source rule exists), so the probe leaves
 * by that uplink. An uplink without it cannot be measured through itself yet: it stays Probing, and
 * the reason says how to preview anyway.
 */
export async function quickProbe(
  policy: EffectivePolicy,
  uplinks: readonly UplinkSpec[],
  layout: Layout,
  observed: KernelState,
  now: number,
): Promise<QuickHealth> {
  const unprobed: string[] = [];
  const p = policy.probes;
  const entries = await Promise.all(
    uplinks.map(async (u): Promise<[string, Health]> => {
      const slot = layout.uplinks.get(u.name);
      const address = observed.address.find((a) => a.dev === u.iface && a.family === 4)?.local;
      const pathInPlace =
        slot !== undefined &&
        address !== undefined &&
        observed.rule.some(
          (r) => r.table === slot.table && r.priority === slot.priority && r.from === hostPrefix(address),
        );
      if (address !== undefined && !pathInPlace) unprobed.push(u.name);
      if (address === undefined || !pathInPlace)
        return [
          u.name,
          {
            state: "probing",
            since: now,
            reason: "not probed: its own path is not in place yet (see --assume-health)",
          },
        ];
      const r = await probeRound(p.targets, {
        source: address.split("/")[0]!,
        timeoutMs: p.timeout,
        jitterMs: 0,
      });
      const ok = reachesQuorum(r, p.quorum);
      const rtt = r.rttsMs.length > 0 ? r.rttsMs.reduce((a, b) => a + b, 0) / r.rttsMs.length : undefined;
      const failures = r.results.filter((x) => !x.result.ok).map((x) => `${x.target.url}: ${x.result.error}`);
      return [
        u.name,
        ok
          ? {
              state: "up",
              since: now,
              ...(rtt === undefined ? {} : { rttMs: rtt }),
              lossPct: (100 * (r.asked - r.answered)) / r.asked,
              successRate: r.answered / r.asked,
              reason: `one probe round: ${r.answered}/${r.asked} targets answered`,
            }
          : { state: "down", since: now, reason: `one probe round failed: ${failures.join("; ")}` },
      ];
    }),
  );
  return { health: Object.fromEntries(entries), unprobed };
}
