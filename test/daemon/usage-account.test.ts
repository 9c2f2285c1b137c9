import { describe, expect, it } from "vitest";
import { fc } from "../support/fc.js";
import { periodAt, type PeriodDef } from "../../src/core/usage/budget-period.js";
import {
  addProbe,
  counterDelta,
  record,
  usageOf,
  type Account,
  type CounterSample,
} from "../../src/core/usage/usage-account.js";

const MONTHLY: PeriodDef = { period: "monthly", resetDay: 1 };
const T0 = Date.parse("2026-11-10T00:00:00Z");

/** What happens to an interface between two moments. */
type Step =
  | { readonly op: "traffic"; readonly rx: number; readonly tx: number }
  | { readonly op: "sample" }
  | { readonly op: "absent" } // a reading while the interface is gone
  | { readonly op: "recreate" } // deleted and created again: new ifindex, counters from 0
  | { readonly op: "reboot" } // new boot id, counters from 0, maybe the same ifindex
  | { readonly op: "resetInPlace" }; // a driver zeroes its counters, same ifindex

const traffic = fc.record({
  op: fc.constant("traffic" as const),
  rx: fc.integer({ min: 0, max: 1e9 }),
  tx: fc.integer({ min: 0, max: 1e9 }),
});
const stepsWith = (...extra: fc.Arbitrary<Step>[]): fc.Arbitrary<Step[]> =>
  fc.array(fc.oneof(traffic, fc.constant<Step>({ op: "sample" }), ...extra), { maxLength: 60 });
const lifeSteps = [
  fc.constant<Step>({ op: "absent" }),
  fc.constant<Step>({ op: "recreate" }),
  fc.constant<Step>({ op: "reboot" }),
];

interface Sim {
  acc: Account | undefined;
  /** Bytes that passed after the first reading. */
  trafficSinceFirst: number;
  /** Bytes that passed after the first reading and before the last reading of their counter life. */
  observable: number;
  /** Traffic of the current life not yet covered by a reading. */
  unread: number;
  firstSeen: boolean;
  usedSeries: number[];
}

/** Play the steps against the account at times inside one period. */
function simulate(steps: readonly Step[]): Sim {
  let cur: CounterSample = { iface: "wwan0", ifindex: 3, bootId: "boot-a", rxBytes: 5000, txBytes: 700 };
  let nextIndex = 4;
  let boot = 0;
  const s: Sim = {
    acc: undefined,
    trafficSinceFirst: 0,
    observable: 0,
    unread: 0,
    firstSeen: false,
    usedSeries: [],
  };
  steps.forEach((step, i) => {
    const now = T0 + i * 1000;
    switch (step.op) {
      case "traffic":
        cur = { ...cur, rxBytes: cur.rxBytes + step.rx, txBytes: cur.txBytes + step.tx };
        if (s.firstSeen) {
          s.trafficSinceFirst += step.rx + step.tx;
          s.unread += step.rx + step.tx;
        }
        return;
      case "sample":
        s.acc = record(s.acc, MONTHLY, cur, now);
        s.firstSeen = true;
        s.observable += s.unread;
        s.unread = 0;
        break;
      case "absent":
        s.acc = record(s.acc, MONTHLY, undefined, now);
        break;
      case "recreate":
        cur = { ...cur, ifindex: nextIndex++, rxBytes: 0, txBytes: 0 };
        s.unread = 0;
        return;
      case "reboot":
        cur = { ...cur, bootId: `boot-${++boot}`, rxBytes: 0, txBytes: 0 };
        s.unread = 0;
        return;
      case "resetInPlace":
        cur = { ...cur, rxBytes: 0, txBytes: 0 };
        s.unread = 0;
        return;
    }
    s.usedSeries.push(usageOf(s.acc, MONTHLY, 1e15, now).usedBytes);
  });
  return s;
}

describe("usage accounting from interface counters", () => {
  it("counts exactly the bytes every counter life showed between its readings, across re-creation, reboots and absence", () => {
    fc.assert(
      fc.property(stepsWith(...lifeSteps), (steps) => {
        const s = simulate(steps);
        expect(s.acc?.countedBytes ?? 0).toBe(s.observable);
      }),
    );
  });

  it("never invents bytes, even when a driver zeroes its counters in place", () => {
    fc.assert(
      fc.property(stepsWith(...lifeSteps, fc.constant<Step>({ op: "resetInPlace" })), (steps) => {
        const s = simulate(steps);
        const counted = s.acc?.countedBytes ?? 0;
        expect(counted).toBeGreaterThanOrEqual(0);
        expect(counted).toBeLessThanOrEqual(s.trafficSinceFirst);
      }),
    );
  });

  it("never decreases used bytes within a period, whatever the counters and probes do", () => {
    fc.assert(
      fc.property(stepsWith(...lifeSteps, fc.constant<Step>({ op: "resetInPlace" })), (steps) => {
        const used = simulate(steps).usedSeries;
        used.forEach((u, i) => expect(u).toBeGreaterThanOrEqual(i === 0 ? 0 : (used[i - 1] ?? 0)));
      }),
    );
  });

  it("counts a counter that went down as reset in place: what it shows now passed since", () => {
    const a: CounterSample = { iface: "usb0", ifindex: 5, bootId: "b", rxBytes: 1000, txBytes: 500 };
    expect(counterDelta(a, { ...a, rxBytes: 1500, txBytes: 600 })).toBe(600);
    expect(counterDelta(a, { ...a, rxBytes: 200, txBytes: 600 })).toBe(300);
    expect(counterDelta(a, { ...a, ifindex: 9, rxBytes: 2000, txBytes: 10 })).toBe(2010);
    expect(counterDelta(undefined, a)).toBe(0);
  });
});

describe("budget period rollover", () => {
  const def = fc.oneof(
    fc.constant<PeriodDef>({ period: "daily", resetDay: 1 }),
    fc.integer({ min: 1, max: 7 }).map((resetDay): PeriodDef => ({ period: "weekly", resetDay })),
    fc.integer({ min: 1, max: 28 }).map((resetDay): PeriodDef => ({ period: "monthly", resetDay })),
  );
  const sample = (rx: number): CounterSample => ({
    iface: "e",
    ifindex: 2,
    bootId: "b",
    rxBytes: rx,
    txBytes: 0,
  });

  it("keeps counting up to the last millisecond of a period and starts from zero exactly at its end", () => {
    fc.assert(
      fc.property(
        def,
        fc.integer({ min: Date.UTC(2020, 0, 1), max: Date.UTC(2040, 0, 1) }),
        fc.integer({ min: 1, max: 1e9 }),
        fc.integer({ min: 1, max: 1e9 }),
        fc.integer({ min: 0, max: 1e6 }),
        (d, t, before, after, probes) => {
          const p = periodAt(d, t);
          let acc = record(undefined, d, sample(0), p.start);
          acc = addProbe(acc, d, probes, p.start);
          acc = record(acc, d, sample(before), p.end - 1);
          expect(usageOf(acc, d, 1e15, p.end - 1).usedBytes).toBe(Math.max(before, probes));
          // Without a reading, the usage seen at the boundary is already the new period's.
          expect(usageOf(acc, d, 1e15, p.end)).toMatchObject({ usedBytes: 0, probeBytes: 0 });
          const next = record(acc, d, sample(before + after), p.end);
          expect(next.period).toEqual(periodAt(d, p.end));
          expect(next.countedBytes).toBe(after);
          expect(next.probeBytes).toBe(0);
        },
      ),
    );
  });

  it("stays in the current period when the clock goes back, losing nothing", () => {
    const d: PeriodDef = { period: "daily", resetDay: 1 };
    let acc = record(undefined, d, sample(0), T0);
    acc = record(acc, d, sample(100), T0 + 1000);
    acc = record(acc, d, sample(250), Date.UTC(1970, 0, 1));
    expect(acc.period).toEqual(periodAt(d, T0));
    expect(acc.countedBytes).toBe(250);
  });

  it("keeps probe bytes as a part of usage, never on top of the counters", () => {
    let acc = record(undefined, MONTHLY, sample(0), T0);
    acc = addProbe(acc, MONTHLY, 300, T0);
    acc = record(acc, MONTHLY, sample(1000), T0 + 1);
    expect(usageOf(acc, MONTHLY, 2000, T0 + 1)).toMatchObject({ usedBytes: 1000, probeBytes: 300 });
    expect(usageOf(acc, MONTHLY, 1000, T0 + 1).exhausted).toBe(true);
    expect(usageOf(acc, MONTHLY, 1001, T0 + 1).exhausted).toBe(false);
    expect(() => addProbe(acc, MONTHLY, -1, T0)).toThrow(RangeError);
  });
});
