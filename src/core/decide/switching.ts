// Decisions about switching the active uplink: why a switch happened (a metric label and a log line),
// and whether the policy's switch limit lets a voluntary one go ahead. Pure.
//
// Only voluntary switches are limited: moving to a better uplink while the active one still works.
// A switch away from an uplink that can no longer carry traffic always goes ahead, whatever the limit:
// holding traffic on a dead uplink is the blackhole the limit exists to avoid making worse.
import type { Selection } from "../selection/types.js";

/** Why the active uplink changed: a metric label, so a small fixed set. */
export type SwitchCause =
  | "physical" // carrier, address or link lost on the active uplink
  | "health" // probes failed or degraded the active uplink
  | "preference" // a better uplink recovered or appeared (beat the switch margin)
  | "budget" // data budget spent
  | "policy" // the policy changed
  | "none-usable" // nothing usable: the policy's no-usable-uplink behaviour
  | "start"; // the first choice after start

export interface SwitchLimit {
  readonly switches: number;
  readonly windowMs: number;
}

const names = (s: Selection | undefined): string[] => (s?.active ?? []).map((a) => a.name).sort();

export function sameActive(a: Selection | undefined, b: Selection): boolean {
  return names(a).join(",") === names(b).join(",");
}

/** The previous active uplinks all remain usable: a switch now would be by preference. */
export function voluntary(prev: Selection | undefined, next: Selection): boolean {
  if (prev === undefined || prev.active.length === 0) return false;
  return prev.active.every((a) => next.verdicts.find((v) => v.name === a.name)?.usable === true);
}

/** Switch times still inside the window. */
export function withinWindow(times: readonly number[], now: number, limit: SwitchLimit): number[] {
  return times.filter((t) => now - t < limit.windowMs);
}

/** Why a voluntary switch must wait, or undefined when it may go ahead. */
export function limitReason(times: readonly number[], now: number, limit: SwitchLimit): string | undefined {
  const recent = withinWindow(times, now, limit);
  if (recent.length < limit.switches) return undefined;
  const freeAt = Math.min(...recent) + limit.windowMs;
  return (
    `switch limit reached (${recent.length} switches within ${limit.windowMs / 1000}s); ` +
    `the next voluntary switch may happen in ${Math.ceil((freeAt - now) / 1000)}s`
  );
}

export interface CauseFacts {
  readonly policyChanged: boolean;
  /** Uplinks the kernel says cannot carry traffic at all (carrier, address, link). */
  readonly physicallyLost: ReadonlySet<string>;
}

/**
 * Why the kernel's active set changed from `from` to `to` (uplink names), given the selection that
 * made the change and the one before it (undefined right after start).
 */
export function switchCause(
  from: readonly string[],
  to: readonly string[],
  next: Selection,
  prev: Selection | undefined,
  f: CauseFacts,
): SwitchCause {
  if (f.policyChanged) return "policy";
  if (from.length === 0) return "start";
  if (to.length === 0) return "none-usable";
  const left = from.filter((n) => !to.includes(n));
  if (left.some((n) => f.physicallyLost.has(n))) return "physical";
  const verdict = (n: string) => next.verdicts.find((v) => v.name === n);
  if (left.some((n) => verdict(n)?.usable !== true)) return "health";
  if (prev === undefined) return "preference";
  // Only a spent budget moves a usable uplink from the primary tier to the fallback one.
  const demoted = (n: string) =>
    verdict(n)?.tier === "fallback" && prev.verdicts.find((v) => v.name === n)?.tier === "primary";
  if (left.some(demoted)) return "budget";
  // Still usable but worse: the uplink that lost traffic fell by more than its successor gained.
  const score = (sel: Selection, n: string) => sel.verdicts.find((v) => v.name === n)?.score?.total ?? 0;
  const fell = Math.max(...left.map((n) => score(prev, n) - score(next, n)));
  const gained = Math.max(...to.map((n) => score(next, n) - score(prev, n)));
  return fell > gained ? "health" : "preference";
}
