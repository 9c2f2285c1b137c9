// The hotspot's credentials over time, for the daemon: the passphrase backhaul generated is replaced
// when the policy's rotation says (before the pass observes, so the pass reloads hostapd with it),
// and a pass is asked for when the next change is due (a rotation, an onboarding token's expiry, the
// activation's hold-down), since no kernel event would announce those.
import { hotspotFiles } from "../core/plan/inputs.js";
import {
  fingerprint,
  nextTokenExpiry,
  passphraseSince,
  readPassphrase,
  rotatePassphrase,
} from "../effects/hotspot/credentials.js";
import type { EffectivePolicy } from "../policy/types.js";

/** The generated passphrase's file, when the policy has backhaul generate and rotate one. */
export function rotatedPassphrase(
  policy: EffectivePolicy,
  netns: string | undefined,
): { path: string; rotationMs: number } | undefined {
  const h = policy.hotspot;
  if (h === undefined || h.activate === "never" || h.security === "open" || h.passphraseFile !== undefined)
    return undefined;
  if (h.rotation === null) return undefined;
  return { path: hotspotFiles(policy, netns)!.paths.passphrase, rotationMs: h.rotation };
}

/** When a passphrase set at `since` is due for rotation. */
export const rotationDueAt = (since: number, rotationMs: number): number => since + rotationMs;

export interface Rotation {
  readonly from: string;
  readonly to: string;
}

/** Longest a timer waits (setTimeout's limit); a later due time is re-armed after it. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export class HotspotKeeper {
  private timer: NodeJS.Timeout | undefined;
  private armedAt: number | undefined;

  constructor(private readonly trigger: (reason: string) => void) {}

  /** Rotate the generated passphrase when it is due; the fingerprints of the old and new one. */
  rotateIfDue(policy: EffectivePolicy, netns: string | undefined, now: number): Rotation | undefined {
    const r = rotatedPassphrase(policy, netns);
    if (r === undefined) return undefined;
    const since = passphraseSince(r.path);
    // None yet: the access point's start generates it.
    if (since === undefined || rotationDueAt(since, r.rotationMs) > now) return undefined;
    const from = fingerprint(readPassphrase(r.path));
    rotatePassphrase(r.path);
    return { from, to: fingerprint(readPassphrase(r.path)) };
  }

  /** When the hotspot's next timed change is due: a rotation, a token's expiry, or `extra`. */
  nextDue(
    policy: EffectivePolicy,
    netns: string | undefined,
    now: number,
    extra?: number,
  ): number | undefined {
    const h = policy.hotspot;
    if (h === undefined || h.activate === "never") return extra;
    const r = rotatedPassphrase(policy, netns);
    const since = r === undefined ? undefined : passphraseSince(r.path);
    let expiry: number | undefined;
    try {
      expiry = nextTokenExpiry(hotspotFiles(policy, netns)!.paths.tokens, now);
    } catch {
      // A damaged token file is moved aside and reported by the pass that reads it.
      expiry = undefined;
    }
    const due = [
      ...(r !== undefined && since !== undefined ? [rotationDueAt(since, r.rotationMs)] : []),
      ...(expiry === undefined ? [] : [expiry]),
      ...(extra === undefined ? [] : [extra]),
    ];
    return due.length === 0 ? undefined : Math.min(...due);
  }

  /** Ask for a pass at `at` (replacing an earlier timer); undefined clears it. */
  arm(at: number | undefined, now: number): void {
    if (at === this.armedAt) return;
    this.disarm();
    if (at === undefined) return;
    this.armedAt = at;
    // A millisecond past due: a token expires at its instant, not before.
    const wait = Math.min(Math.max(0, at - now) + 1, MAX_TIMER_MS);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.armedAt = undefined;
      this.trigger("hotspot timer");
    }, wait);
    this.timer.unref();
  }

  disarm(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.armedAt = undefined;
  }
}
