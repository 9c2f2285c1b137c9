import { describe, expect, it } from "vitest";
import fc from "fast-check";
import {
  DEFAULT_HOLD_DOWNS,
  holdDownFor,
  initialMachine,
  step,
  type HoldDowns,
  type Machine,
  type Observation,
  type Verdict,
} from "../../../src/core/health/state-machine.js";

const ok = { ok: true } as const;
const lost = { ok: false, why: "carrier lost" } as const;
const obs = (verdict: Verdict, physical: Observation["physical"] = ok): Observation => ({
  physical,
  verdict,
});

/** Feed the same observation every `tick` ms for `ms` ms. */
function hold(m: Machine, o: Observation, from: number, ms: number, tick = 250): [Machine, number] {
  let t = from;
  let cur = m;
  while (t < from + ms) {
    t += tick;
    cur = step(cur, o, t, DEFAULT_HOLD_DOWNS);
  }
  return [cur, t];
}

describe("health state machine (examples)", () => {
  it("starts in Probing and goes Up after the probing hold-down of good probes", () => {
    let [m, t] = hold(initialMachine(0), obs("good"), 0, 9_000);
    expect(m.state).toBe("probing");
    [m, t] = hold(m, obs("good"), t, 1_500);
    expect(m.state).toBe("up");
  });

  it("waits the up→degraded hold-down before calling a gray failure", () => {
    let [m, t] = hold(initialMachine(0), obs("good"), 0, 20_000);
    [m, t] = hold(m, obs("bad"), t, 14_000);
    expect(m.state).toBe("up");
    [m] = hold(m, obs("bad"), t, 1_500);
    expect(m.state).toBe("degraded");
  });

  it("restarts a hold-down when the condition is interrupted", () => {
    let [m, t] = hold(initialMachine(0), obs("good"), 0, 20_000);
    [m, t] = hold(m, obs("bad"), t, 10_000);
    m = step(m, obs("good"), (t += 250), DEFAULT_HOLD_DOWNS);
    [m] = hold(m, obs("bad"), t, 10_000);
    expect(m.state).toBe("up");
  });

  it("goes Down at once on carrier loss, whatever the timers say", () => {
    const [m, t] = hold(initialMachine(0), obs("good"), 0, 20_000);
    const after = step(m, obs("good", lost), t + 1, DEFAULT_HOLD_DOWNS);
    expect(after).toMatchObject({ state: "down", since: t + 1, reason: "carrier lost" });
  });

  it("recovers from Down only through Probing", () => {
    let m: Machine = { state: "down", since: 0, reason: "carrier lost" };
    let t: number;
    [m, t] = hold(m, obs("good"), 0, 59_000);
    expect(m.state).toBe("down");
    [m, t] = hold(m, obs("good"), t, 1_500);
    expect(m.state).toBe("probing");
    [m] = hold(m, obs("good"), t, 10_500);
    expect(m.state).toBe("up");
  });
});

const holdDownsArb: fc.Arbitrary<HoldDowns> = fc.record({
  upToDegradedMs: fc.integer({ min: 0, max: 20_000 }),
  degradedToDownMs: fc.integer({ min: 0, max: 20_000 }),
  downToProbingMs: fc.integer({ min: 0, max: 20_000 }),
  probingToUpMs: fc.integer({ min: 0, max: 20_000 }),
  minStateDurationMs: fc.integer({ min: 0, max: 10_000 }),
});
const observationArb: fc.Arbitrary<Observation> = fc.record({
  physical: fc.oneof(fc.constant(ok), fc.constant(lost)),
  verdict: fc.constantFrom<Verdict>("good", "degraded", "bad", "unknown"),
});
const eventsArb = fc.array(fc.tuple(fc.integer({ min: 0, max: 5_000 }), observationArb), { maxLength: 200 });

function trace(h: HoldDowns, events: [number, Observation][]) {
  let m = initialMachine(0);
  let t = 0;
  const out: { before: Machine; after: Machine; o: Observation; t: number }[] = [];
  for (const [dt, o] of events) {
    t += dt;
    const after = step(m, o, t, h);
    out.push({ before: m, after, o, t });
    m = after;
  }
  return out;
}

describe("health state machine (properties)", () => {
  it("never changes state sooner than the hold-down and minimum duration allow, except on physical loss", () => {
    fc.assert(
      fc.property(holdDownsArb, eventsArb, (h, events) => {
        for (const { before, after, o, t } of trace(h, events)) {
          if (after.state === before.state || !o.physical.ok) continue;
          const waited = t - before.since;
          expect(waited).toBeGreaterThanOrEqual(h.minStateDurationMs);
          expect(waited).toBeGreaterThanOrEqual(holdDownFor(before.state, after.state, h));
        }
      }),
      { numRuns: Number(process.env.FC_NUM_RUNS ?? 1000) },
    );
  });

  it("always acts on physical loss at once", () => {
    fc.assert(
      fc.property(holdDownsArb, eventsArb, (h, events) => {
        for (const { after, o } of trace(h, events)) if (!o.physical.ok) expect(after.state).toBe("down");
      }),
      { numRuns: Number(process.env.FC_NUM_RUNS ?? 1000) },
    );
  });

  it("enters Up only from Probing", () => {
    fc.assert(
      fc.property(holdDownsArb, eventsArb, (h, events) => {
        for (const { before, after } of trace(h, events))
          if (after.state === "up" && before.state !== "up") expect(before.state).toBe("probing");
      }),
      { numRuns: Number(process.env.FC_NUM_RUNS ?? 1000) },
    );
  });

  it("follows only the transitions of the lifecycle", () => {
    const allowed = new Set([
      "probing>up",
      "probing>down",
      "up>degraded",
      "degraded>down",
      "degraded>probing",
      "down>probing",
      "up>down",
      "degraded>down",
      "probing>down",
    ]);
    fc.assert(
      fc.property(holdDownsArb, eventsArb, (h, events) => {
        for (const { before, after } of trace(h, events))
          if (after.state !== before.state) expect(allowed.has(`${before.state}>${after.state}`)).toBe(true);
      }),
      { numRuns: Number(process.env.FC_NUM_RUNS ?? 1000) },
    );
  });
});
