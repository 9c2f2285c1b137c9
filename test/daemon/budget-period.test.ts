import { describe, expect, it } from "vitest";
import { fc } from "../support/fc.js";
import { periodAt, type PeriodDef } from "../../src/core/usage/budget-period.js";

const DAY = 86_400_000;
const def: fc.Arbitrary<PeriodDef> = fc.oneof(
  fc.constant<PeriodDef>({ period: "daily", resetDay: 1 }),
  fc.integer({ min: 1, max: 7 }).map((resetDay): PeriodDef => ({ period: "weekly", resetDay })),
  fc.integer({ min: 1, max: 28 }).map((resetDay): PeriodDef => ({ period: "monthly", resetDay })),
);
// 1970..2100, to the millisecond.
const instant = fc.integer({ min: 0, max: Date.UTC(2100, 0, 1) });
const isoWeekday = (t: number): number => ((new Date(t).getUTCDay() + 6) % 7) + 1;

describe("budget periods", () => {
  it("contain the instant they are computed for", () => {
    fc.assert(
      fc.property(def, instant, (d, t) => {
        const p = periodAt(d, t);
        expect(p.start).toBeLessThanOrEqual(t);
        expect(t).toBeLessThan(p.end);
      }),
    );
  });

  it("start at UTC midnight of the reset day and last a day, a week or a calendar month", () => {
    fc.assert(
      fc.property(def, instant, (d, t) => {
        const p = periodAt(d, t);
        expect(p.start % DAY === 0).toBe(true);
        const s = new Date(p.start);
        const e = new Date(p.end);
        if (d.period === "daily") expect(p.end - p.start).toBe(DAY);
        if (d.period === "weekly") {
          expect(p.end - p.start).toBe(7 * DAY);
          expect(isoWeekday(p.start)).toBe(d.resetDay);
        }
        if (d.period === "monthly") {
          expect(s.getUTCDate()).toBe(d.resetDay);
          expect(e.getUTCDate()).toBe(d.resetDay);
          expect((e.getUTCFullYear() - s.getUTCFullYear()) * 12 + e.getUTCMonth() - s.getUTCMonth()).toBe(1);
        }
      }),
    );
  });

  it("tile time: the next period starts exactly where one ends", () => {
    fc.assert(
      fc.property(def, instant, (d, t) => {
        const p = periodAt(d, t);
        expect(periodAt(d, p.end - 1)).toEqual(p);
        expect(periodAt(d, p.end).start).toBe(p.end);
      }),
    );
  });

  it("computes the examples people expect", () => {
    const t = Date.parse("2026-11-23T15:00:00Z"); // a Monday
    expect(periodAt({ period: "monthly", resetDay: 1 }, t)).toEqual({
      start: Date.parse("2026-11-01T00:00:00Z"),
      end: Date.parse("2026-12-01T00:00:00Z"),
    });
    expect(periodAt({ period: "monthly", resetDay: 28 }, t)).toEqual({
      start: Date.parse("2026-10-28T00:00:00Z"),
      end: Date.parse("2026-11-28T00:00:00Z"),
    });
    expect(periodAt({ period: "monthly", resetDay: 15 }, Date.parse("2027-01-03T00:00:00Z"))).toEqual({
      start: Date.parse("2026-12-15T00:00:00Z"),
      end: Date.parse("2027-01-15T00:00:00Z"),
    });
    expect(periodAt({ period: "weekly", resetDay: 1 }, t).start).toBe(Date.parse("2026-11-23T00:00:00Z"));
    expect(periodAt({ period: "weekly", resetDay: 7 }, t).start).toBe(Date.parse("2026-11-22T00:00:00Z"));
    expect(periodAt({ period: "weekly", resetDay: 2 }, t).start).toBe(Date.parse("2026-11-17T00:00:00Z"));
    expect(periodAt({ period: "daily", resetDay: 1 }, t).start).toBe(Date.parse("2026-11-23T00:00:00Z"));
  });

  it("refuses a reset day outside the period", () => {
    expect(() => periodAt({ period: "monthly", resetDay: 29 }, 0)).toThrow(/1\.\.28/);
    expect(() => periodAt({ period: "weekly", resetDay: 0 }, 0)).toThrow(/1\.\.7/);
  });
});
