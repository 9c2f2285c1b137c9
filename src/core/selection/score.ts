// The uplink score of the reference connectivity layer: latency, loss and success components plus a
// bias per kind of link. Every number is a parameter (the policy's), none is a constant here.
import type { Health, ScoreBreakdown, SelectionParams, UplinkSpec } from "./types.js";

const clamp01 = (x: number): number => Math.min(1, Math.max(0, x));

/** Score one uplink; a metric the prober has not measured contributes nothing. */
export function scoreUplink(spec: UplinkSpec, health: Health, p: SelectionParams): ScoreBreakdown {
  const latency =
    health.rttMs === undefined ? 0 : Math.round(p.weights.latency * (1 - clamp01(health.rttMs / p.maxRttMs)));
  const loss =
    health.lossPct === undefined
      ? 0
      : Math.round(p.weights.loss * (1 - clamp01(health.lossPct / p.maxLossPct)));
  const success =
    health.successRate === undefined ? 0 : Math.round(p.weights.success * clamp01(health.successRate));
  const bias = Math.round((spec.bias ?? p.classBias[spec.class]) * p.biasMultiplier);
  return { total: latency + loss + success + bias, latency, loss, success, bias };
}
