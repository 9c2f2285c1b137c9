// Budget periods of metered uplinks, in UTC: a node's local time zone (or its lack of one) must not
// move the boundary. A period is the half-open interval [start, end) in epoch milliseconds.
import type { MeteredPeriod } from "../../policy/types.js";

export interface PeriodDef {
  readonly period: MeteredPeriod;
  /** monthly: day of month 1..28; weekly: ISO weekday 1 (Monday)..7 (Sunday); daily: unused. */
  readonly resetDay: number;
}

export interface Period {
  readonly start: number;
  readonly end: number;
}

const DAY_MS = 86_400_000;

function checkDef(def: PeriodDef): void {
  const max = def.period === "monthly" ? 28 : def.period === "weekly" ? 7 : Infinity;
  if (def.period !== "daily" && !(Number.isInteger(def.resetDay) && def.resetDay >= 1 && def.resetDay <= max))
    throw new RangeError(
      `resetDay of a ${def.period} budget must be an integer 1..${max}, got ${def.resetDay}`,
    );
}

/** The budget period that contains the instant `t`. */
export function periodAt(def: PeriodDef, t: number): Period {
  checkDef(def);
  if (!Number.isFinite(t)) throw new RangeError(`not a time: ${t}`);
  const d = new Date(t);
  const y = d.getUTCFullYear();
  const m = d.getUTCMonth();
  const midnight = Date.UTC(y, m, d.getUTCDate());
  switch (def.period) {
    case "daily":
      return { start: midnight, end: midnight + DAY_MS };
    case "weekly": {
      const isoWeekday = ((d.getUTCDay() + 6) % 7) + 1;
      const start = midnight - ((isoWeekday - def.resetDay + 7) % 7) * DAY_MS;
      return { start, end: start + 7 * DAY_MS };
    }
    case "monthly": {
      // Date.UTC carries month -1 and 12 into the neighbouring years.
      const sm = d.getUTCDate() >= def.resetDay ? m : m - 1;
      return { start: Date.UTC(y, sm, def.resetDay), end: Date.UTC(y, sm + 1, def.resetDay) };
    }
  }
}
