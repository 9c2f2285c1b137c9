import { describe, expect, it } from "vitest";
import fc from "fast-check";
import {
  activationDue,
  initialActivation,
  stepActivation,
  type Activation,
  type ActivationInput,
  type HotspotMode,
} from "../../../src/core/decide/hotspot-activation.js";

const numRuns = Number(process.env.FC_NUM_RUNS ?? 1000);
const T0 = 1_700_000_000_000;
const NAMES = ["fibre", "lte", "wifi"] as const;

const input = (usable: readonly string[], mode: HotspotMode = "when-no-uplink"): ActivationInput => ({
  mode,
  usable,
  raiseAfterMs: 30_000,
  lowerAfterMs: 60_000,
});

/** Feed the same input every `tick` ms for `ms` ms. */
function hold(
  a: Activation,
  i: ActivationInput,
  from: number,
  ms: number,
  tick = 1_000,
): [Activation, number] {
  let t = from;
  let cur = a;
  while (t < from + ms) {
    t += tick;
    cur = stepActivation(cur, i, t);
  }
  return [cur, t];
}

describe("hotspot activation (examples)", () => {
  it("a node that boots without uplinks raises the hotspot once none has been usable for the raise hold-down", () => {
    const a = initialActivation(input([]), T0);
    expect(a).toMatchObject({ up: false, since: T0, pendingSince: T0 });
    expect(activationDue(a, input([]))).toBe(T0 + 30_000);
    expect(stepActivation(a, input([]), T0 + 29_999).up).toBe(false);
    expect(stepActivation(a, input([]), T0 + 30_000)).toEqual({
      mode: "when-no-uplink",
      up: true,
      since: T0 + 30_000,
      why: "no uplink usable for 30 s",
    });
  });

  it("a node that boots with an uplink keeps the hotspot down and has nothing pending", () => {
    const a = initialActivation(input(["fibre"]), T0);
    expect(a).toEqual({ mode: "when-no-uplink", up: false, since: T0, why: "starting with fibre usable" });
    expect(activationDue(a, input(["fibre"]))).toBeUndefined();
    expect(hold(a, input(["fibre"]), T0, 3_600_000)[0].up).toBe(false);
  });

  it("a flap of the uplink shorter than the lower hold-down does not lower the hotspot", () => {
    let a = stepActivation(initialActivation(input([]), T0), input([]), T0 + 30_000);
    expect(a.up).toBe(true);
    // fibre comes back for 59.5 s, then is lost again for one observation.
    a = stepActivation(a, input(["fibre"]), T0 + 40_000);
    a = stepActivation(a, input(["fibre"]), T0 + 99_500);
    expect(a).toMatchObject({ up: true, pendingSince: T0 + 40_000 });
    a = stepActivation(a, input([]), T0 + 100_000);
    expect(a.up).toBe(true);
    expect(a.pendingSince).toBeUndefined();
    // The count starts again with the next usable observation.
    a = stepActivation(a, input(["fibre"]), T0 + 101_000);
    expect(stepActivation(a, input(["fibre", "lte"]), T0 + 160_999).up).toBe(true);
    expect(stepActivation(a, input(["fibre", "lte"]), T0 + 161_000)).toEqual({
      mode: "when-no-uplink",
      up: false,
      since: T0 + 161_000,
      why: "fibre, lte usable for 60 s",
    });
  });

  it("a single usable observation starts the raise count again", () => {
    let [a] = hold(initialActivation(input([]), T0), input([]), T0, 29_000);
    a = stepActivation(a, input(["lte"]), T0 + 29_500);
    expect(a.up).toBe(false);
    expect(a.pendingSince).toBeUndefined();
    a = stepActivation(a, input([]), T0 + 30_000);
    expect(a.pendingSince).toBe(T0 + 30_000);
    expect(stepActivation(a, input([]), T0 + 59_999).up).toBe(false);
    expect(stepActivation(a, input([]), T0 + 60_000).up).toBe(true);
  });

  it("applies always and never at once, and counts when-no-uplink's hold-down from the switch", () => {
    let a = initialActivation(input(["fibre"], "always"), T0);
    expect(a).toEqual({ mode: "always", up: true, since: T0, why: "activate: always" });
    a = stepActivation(a, input(["fibre"]), T0 + 1_000);
    expect(a).toMatchObject({ up: true, pendingSince: T0 + 1_000 });
    expect(a.why).toBe("activate: when-no-uplink, kept up from activate: always");
    expect(activationDue(a, input(["fibre"]))).toBe(T0 + 61_000);
    a = stepActivation(a, input(["fibre"], "never"), T0 + 2_000);
    expect(a).toEqual({ mode: "never", up: false, since: T0 + 2_000, why: "activate: never" });
    expect(activationDue(a, input([], "never"))).toBeUndefined();
  });

  it("counts a step back in time as no time elapsed, and the hold-down from there", () => {
    let a = initialActivation(input([]), T0);
    a = stepActivation(a, input([]), T0 - 100_000);
    expect(a).toMatchObject({ up: false, pendingSince: T0 - 100_000 });
    expect(stepActivation(a, input([]), T0 - 70_001).up).toBe(false);
    expect(stepActivation(a, input([]), T0 - 70_000).up).toBe(true);
  });
});

// ---- properties -------------------------------------------------------------------------------------

interface Obs {
  readonly dt: number;
  readonly usable: readonly string[];
}

const holdArb = fc.oneof(
  { arbitrary: fc.constant(0), weight: 1 },
  { arbitrary: fc.integer({ min: 1, max: 60_000 }), weight: 6 },
);
const dtArb = fc.oneof(
  { arbitrary: fc.constant(0), weight: 1 },
  { arbitrary: fc.integer({ min: 1, max: 1_000 }), weight: 2 },
  { arbitrary: fc.integer({ min: 1_000, max: 20_000 }), weight: 4 },
);
/** Runs of observations with no uplink usable and runs with some (which ones may change within a run). */
const historyArb: fc.Arbitrary<Obs[]> = fc
  .array(
    fc.tuple(
      fc.boolean(),
      fc.array(fc.tuple(dtArb, fc.subarray([...NAMES], { minLength: 1 })), { minLength: 1, maxLength: 8 }),
    ),
    { maxLength: 25 },
  )
  .map((runs) =>
    runs.flatMap(([none, obs]) => obs.map(([dt, usable]) => ({ dt, usable: none ? [] : usable }))),
  );
const modeArb = fc.constantFrom<HotspotMode>("when-no-uplink", "always", "never");
/** Observations with the mode of each: `when-no-uplink` half the time, so its counts get somewhere. */
const mixedArb = fc.array(
  fc.tuple(
    fc.oneof(fc.constant<HotspotMode>("when-no-uplink"), modeArb),
    dtArb,
    fc.oneof(fc.constant([]), fc.subarray([...NAMES], { minLength: 1 })),
  ),
  { minLength: 1, maxLength: 60 },
);
const holdsArb = fc.record({ raiseAfterMs: holdArb, lowerAfterMs: holdArb });
type Holds = { raiseAfterMs: number; lowerAfterMs: number };

interface Step {
  readonly t: number;
  readonly input: ActivationInput;
  readonly before: Activation | undefined;
  readonly after: Activation;
  /** For when-no-uplink: since when the current observation's kind (none usable / some) has held. */
  readonly runStart: number;
}

/** The first observation starts the daemon; each further one is a step. */
function run(mode: HotspotMode, h: Holds, history: readonly Obs[]): Step[] {
  let t = T0;
  let a: Activation | undefined;
  let runStart = T0;
  let prevNone: boolean | undefined;
  const out: Step[] = [];
  for (const [k, o] of history.entries()) {
    if (k > 0) t += o.dt;
    const none = o.usable.length === 0;
    if (none !== prevNone) runStart = t;
    prevNone = none;
    const i: ActivationInput = { mode, usable: o.usable, ...h };
    const after = a === undefined ? initialActivation(i, t) : stepActivation(a, i, t);
    out.push({ t, input: i, before: a, after, runStart });
    a = after;
  }
  return out;
}

/**
 * What the hold-downs say, computed over the history on its own: up once no uplink has been usable for the
 * raise hold-down, down once some has been for the lower one, otherwise as before (down at start).
 */
function expectedUp(h: Holds, steps: readonly Step[]): boolean[] {
  const out: boolean[] = [];
  let up = false;
  for (const s of steps) {
    const none = s.input.usable.length === 0;
    if (none && s.t - s.runStart >= h.raiseAfterMs) up = true;
    if (!none && s.t - s.runStart >= h.lowerAfterMs) up = false;
    out.push(up);
  }
  return out;
}

describe("hotspot activation (properties)", () => {
  it("with always or never, is up exactly when the mode is always, after every step", () => {
    fc.assert(
      fc.property(holdsArb, mixedArb, (h, obs) => {
        let t = T0;
        let a: Activation | undefined;
        for (const [mode, dt, usable] of obs) {
          t += dt;
          const i = { mode, usable, ...h };
          a = a === undefined ? initialActivation(i, t) : stepActivation(a, i, t);
          if (mode !== "when-no-uplink") {
            expect(a.up).toBe(mode === "always");
            expect(a.pendingSince).toBeUndefined();
            expect(activationDue(a, i)).toBeUndefined();
          }
        }
      }),
      { numRuns },
    );
  });

  it("raises the hotspot only after no uplink has been usable for the raise hold-down without a break", () => {
    fc.assert(
      fc.property(holdsArb, historyArb, (h, history) => {
        for (const s of run("when-no-uplink", h, history)) {
          if (!s.after.up || (s.before !== undefined && s.before.up)) continue;
          expect(s.input.usable).toEqual([]);
          expect(s.t - s.runStart).toBeGreaterThanOrEqual(h.raiseAfterMs);
        }
      }),
      { numRuns },
    );
  });

  it("lowers the hotspot only after an uplink has been usable for the lower hold-down without a break", () => {
    fc.assert(
      fc.property(holdsArb, historyArb, (h, history) => {
        for (const s of run("when-no-uplink", h, history)) {
          if (s.after.up || s.before === undefined || !s.before.up) continue;
          expect(s.input.usable.length).toBeGreaterThan(0);
          expect(s.t - s.runStart).toBeGreaterThanOrEqual(h.lowerAfterMs);
          for (const name of s.input.usable) expect(s.after.why).toContain(name);
        }
      }),
      { numRuns },
    );
  });

  it("does not flap: a raise follows a lowering by the raise hold-down, a lowering a raise by the lower one", () => {
    fc.assert(
      fc.property(holdsArb, historyArb, (h, history) => {
        let lastChange: number | undefined;
        for (const s of run("when-no-uplink", h, history)) {
          if (s.before === undefined || s.before.up === s.after.up) continue;
          if (lastChange !== undefined) {
            const gap = s.t - lastChange;
            expect(gap).toBeGreaterThanOrEqual(Math.min(h.raiseAfterMs, h.lowerAfterMs));
            expect(gap).toBeGreaterThanOrEqual(s.after.up ? h.raiseAfterMs : h.lowerAfterMs);
          }
          lastChange = s.t;
        }
      }),
      { numRuns },
    );
  });

  it("is at every step what the hold-downs say, and pendingSince is when the other state's condition began", () => {
    fc.assert(
      fc.property(holdsArb, historyArb, (h, history) => {
        const steps = run("when-no-uplink", h, history);
        const expected = expectedUp(h, steps);
        for (const [k, s] of steps.entries()) {
          expect(s.after.up).toBe(expected[k]);
          const none = s.input.usable.length === 0;
          // The count toward the other state: none usable while down, some usable while up.
          expect(s.after.pendingSince).toBe(none === !s.after.up ? s.runStart : undefined);
        }
      }),
      { numRuns },
    );
  });

  it("changes since exactly when up changes, through changes of mode too", () => {
    fc.assert(
      fc.property(holdsArb, mixedArb, (h, obs) => {
        let t = T0;
        let a: Activation | undefined;
        for (const [mode, dt, usable] of obs) {
          t += dt;
          const i = { mode, usable, ...h };
          const before = a;
          a = a === undefined ? initialActivation(i, t) : stepActivation(a, i, t);
          expect(a.since).toBe(before === undefined || before.up !== a.up ? t : before.since);
        }
      }),
      { numRuns },
    );
  });

  it("after a switch to when-no-uplink keeps the hotspot as it was, the hold-downs counting from the switch", () => {
    fc.assert(
      fc.property(holdsArb, mixedArb, (h, obs) => {
        let t = T0;
        let a: Activation | undefined;
        let countFrom = T0; // since when both the mode and the kind of observation (none usable / some) held
        let last: [HotspotMode, boolean] | undefined;
        for (const [mode, dt, usable] of obs) {
          t += dt;
          const none = usable.length === 0;
          if (last === undefined || last[0] !== mode || last[1] !== none) countFrom = t;
          last = [mode, none];
          const i = { mode, usable, ...h };
          const before = a;
          a = a === undefined ? initialActivation(i, t) : stepActivation(a, i, t);
          if (mode !== "when-no-uplink" || before === undefined || before.up === a.up) continue;
          expect(none).toBe(a.up);
          expect(t - countFrom).toBeGreaterThanOrEqual(a.up ? h.raiseAfterMs : h.lowerAfterMs);
        }
      }),
      { numRuns },
    );
  });

  it("says when the pending change is due: a step just before changes nothing, a step at it changes up", () => {
    fc.assert(
      fc.property(modeArb, holdsArb, historyArb, (mode, h, history) => {
        for (const s of run(mode, h, history)) {
          const due = activationDue(s.after, s.input);
          if (due === undefined) {
            expect(stepActivation(s.after, s.input, s.t + 10 * 86_400_000).up).toBe(s.after.up);
            continue;
          }
          expect(due).toBeGreaterThan(s.t);
          expect(stepActivation(s.after, s.input, due - 1).up).toBe(s.after.up);
          expect(stepActivation(s.after, s.input, due).up).toBe(!s.after.up);
        }
      }),
      { numRuns },
    );
  });

  it("takes a step back in time as no time elapsed, and never has a count that starts after its step", () => {
    fc.assert(
      fc.property(
        holdsArb,
        fc.array(fc.tuple(modeArb, fc.integer({ min: -60_000, max: 20_000 }), fc.subarray([...NAMES])), {
          minLength: 1,
          maxLength: 60,
        }),
        (h, obs) => {
          let t = T0;
          let a: Activation | undefined;
          for (const [mode, dt, usable] of obs) {
            t += dt;
            const i = { mode, usable, ...h };
            const before = a;
            a = a === undefined ? initialActivation(i, t) : stepActivation(a, i, t);
            if (a.pendingSince !== undefined) expect(a.pendingSince).toBeLessThanOrEqual(t);
            if (before === undefined || mode !== "when-no-uplink" || before.up === a.up) continue;
            const holdMs = a.up ? h.raiseAfterMs : h.lowerAfterMs;
            if (before.pendingSince === undefined || t <= before.pendingSince) expect(holdMs).toBe(0);
            else expect(t - before.pendingSince).toBeGreaterThanOrEqual(holdMs);
          }
        },
      ),
      { numRuns },
    );
  });
});
