// When the hotspot is up, for `hotspot.activate`: a pure function of (state, input, time) that the daemon
// feeds whenever what is usable changes, and on the timer activationDue asks for.
//
// - `always`: up; `never`: down; at once, whatever the uplinks do (a mode change applies at the step
//   that sees it).
// - `when-no-uplink`, with hold-downs so a flapping uplink does not flap the hotspot:
//   - the daemon starts with the hotspot down; when no uplink is usable at start the raise hold-down
//     counts from then, so a node that boots without uplinks raises it after `raiseAfterMs`;
//   - down → up once no uplink has been usable for `raiseAfterMs` without a break: a single observation
//     with a usable uplink starts the count again;
//   - up → down once some uplink has been usable for `lowerAfterMs` without a break (which one may
//     change along the way): a single observation with none usable starts the count again;
//   - switching to `when-no-uplink` from another mode (the state's `mode`) keeps the hotspot as it is,
//     and the hold-down for the other state counts from the switch.
// Time comes only from the arguments. It should not go backwards; a step that does counts as no time
// elapsed, and a pending count starts again from that step.

export type HotspotMode = "when-no-uplink" | "always" | "never";

export interface Activation {
  /** The mode this state was decided under (a switch to `when-no-uplink` starts its counts afresh). */
  readonly mode: HotspotMode;
  readonly up: boolean;
  /** When `up` last changed (epoch ms; the start for the first state). */
  readonly since: number;
  /** Since when the condition for the other state has held without a break (absent: it does not hold). */
  readonly pendingSince?: number;
  /** For people: why the hotspot is up or down ("no uplink usable for 30 s", "fibre usable for 60 s", "activate: always", ...). */
  readonly why: string;
}

export interface ActivationInput {
  readonly mode: HotspotMode;
  /** Names of uplinks usable right now (empty: none). */
  readonly usable: readonly string[];
  readonly raiseAfterMs: number;
  readonly lowerAfterMs: number;
}

/** `250 ms`, `30 s`, `1.5 s`: a hold-down as people read it. */
function spoken(ms: number): string {
  if (ms < 1000) return `${ms} ms`;
  return `${Number((ms / 1000).toFixed(3))} s`;
}

const modeWhy = (mode: HotspotMode): string => `activate: ${mode}`;

const names = (usable: readonly string[]): string => [...new Set(usable)].join(", ");

/**
 * The state as the daemon starts. For `when-no-uplink`: down, with the raise hold-down counting from now
 * when no uplink is usable (so up at once when that hold-down is 0).
 */
export function initialActivation(input: ActivationInput, now: number): Activation {
  if (input.mode !== "when-no-uplink")
    return stepActivation({ mode: input.mode, up: false, since: now, why: "" }, input, now);
  const why =
    input.usable.length === 0
      ? "starting without a usable uplink"
      : `starting with ${names(input.usable)} usable`;
  return stepActivation({ mode: "when-no-uplink", up: false, since: now, why }, input, now);
}

export function stepActivation(prev: Activation, input: ActivationInput, now: number): Activation {
  if (input.mode !== "when-no-uplink") {
    const up = input.mode === "always";
    const why = modeWhy(input.mode);
    if (prev.mode === input.mode && prev.up === up && prev.why === why && prev.pendingSince === undefined)
      return prev;
    return { mode: input.mode, up, since: prev.up === up ? prev.since : now, why };
  }
  // Another mode kept no count (pendingSince is absent there), so the hold-downs count from the switch.
  const switched = prev.mode !== "when-no-uplink";
  const why = switched
    ? `${modeWhy("when-no-uplink")}, kept ${prev.up ? "up" : "down"} from ${prev.why}`
    : prev.why;
  const mode = "when-no-uplink" as const;
  // What would bring the other state, and how long it must hold.
  const towardOther = prev.up ? input.usable.length > 0 : input.usable.length === 0;
  const holdMs = prev.up ? input.lowerAfterMs : input.raiseAfterMs;
  if (!towardOther) {
    if (!switched && prev.pendingSince === undefined && prev.why === why) return prev;
    return { mode, up: prev.up, since: prev.since, why };
  }
  // Time going backwards counts as none elapsed: the count starts again from now.
  const pendingSince = prev.pendingSince === undefined ? now : Math.min(prev.pendingSince, now);
  if (now - pendingSince >= holdMs) {
    return prev.up
      ? {
          mode,
          up: false,
          since: now,
          why: `${names(input.usable)} usable for ${spoken(input.lowerAfterMs)}`,
        }
      : { mode, up: true, since: now, why: `no uplink usable for ${spoken(input.raiseAfterMs)}` };
  }
  if (!switched && prev.pendingSince === pendingSince && prev.why === why) return prev;
  return { mode, up: prev.up, since: prev.since, pendingSince, why };
}

/** When the pending change becomes due (epoch ms), so a caller can set a timer; undefined when none is pending. */
export function activationDue(a: Activation, input: ActivationInput): number | undefined {
  if (input.mode !== "when-no-uplink" || a.pendingSince === undefined) return undefined;
  if (a.up) return input.usable.length > 0 ? a.pendingSince + input.lowerAfterMs : undefined;
  return input.usable.length === 0 ? a.pendingSince + input.raiseAfterMs : undefined;
}
