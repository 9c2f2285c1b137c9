// Pure accounting of one metered uplink's data use in its budget period. The kernel's interface
// counters are the truth: every reading adds what the counters grew by since the previous reading.
// The prober's own byte estimates are kept beside them for people, never added on top (probes pass
// through the same counters, so adding them would count those bytes twice).
import { periodAt, type Period, type PeriodDef } from "./budget-period.js";

/** One reading of an interface's kernel counters (/sys/class/net/IFACE/statistics, ifindex). */
export interface CounterReading {
  readonly rxBytes: number;
  readonly txBytes: number;
  readonly ifindex: number;
}

/**
 * A reading and the life of the counters it belongs to. Counters start from 0 when an interface is
 * created and when the machine boots; a different name, ifindex or boot id means a new life.
 */
export interface CounterSample extends CounterReading {
  readonly iface: string;
  readonly bootId: string;
}

export interface Account {
  readonly period: Period;
  /** Bytes the counters grew by in this period. */
  readonly countedBytes: number;
  /** The prober's estimate of its own bytes in this period (already inside countedBytes). */
  readonly probeBytes: number;
  /** The last reading: where the next one counts from. Absent until the interface was first seen. */
  readonly last?: CounterSample;
}

export interface AccountUsage {
  /** Counted bytes; never less than the probe bytes, which are part of it. */
  readonly usedBytes: number;
  readonly budgetBytes: number;
  readonly probeBytes: number;
  readonly period: Period;
  readonly exhausted: boolean;
}

function sameReading(a: CounterSample, b: CounterSample): boolean {
  return sameLife(a, b) && a.rxBytes === b.rxBytes && a.txBytes === b.txBytes;
}

function sameLife(a: CounterSample, b: CounterSample): boolean {
  return a.iface === b.iface && a.ifindex === b.ifindex && a.bootId === b.bootId;
}

/**
 * Bytes the counters grew by from `prev` to `cur`. The first reading counts nothing (what happened
 * before backhaul first looked is unknown). A new life of the counters counts everything in them:
 * all of it happened after the previous reading. A counter that went down in the same life was reset
 * in place (some drivers do that on link down): what it shows now is what passed since.
 */
export function counterDelta(prev: CounterSample | undefined, cur: CounterSample): number {
  if (prev === undefined) return 0;
  if (!sameLife(prev, cur)) return cur.rxBytes + cur.txBytes;
  const grown = (before: number, now: number): number => (now >= before ? now - before : now);
  return grown(prev.rxBytes, cur.rxBytes) + grown(prev.txBytes, cur.txBytes);
}

/**
 * The account as of `now`: a new period (nothing used) once `now` reaches the end of the current
 * one. A clock that went back stays in the current period: usage is never dropped because the clock
 * moved. A changed period definition takes effect at the next boundary.
 */
export function advance(acc: Account | undefined, def: PeriodDef, now: number): Account {
  if (acc === undefined) return { period: periodAt(def, now), countedBytes: 0, probeBytes: 0 };
  if (now < acc.period.end) return acc;
  const next: Account = { period: periodAt(def, now), countedBytes: 0, probeBytes: 0 };
  return acc.last === undefined ? next : { ...next, last: acc.last };
}

/**
 * Add a counter reading taken at `now`; undefined: the interface is absent (nothing added; the last
 * reading stays, so a re-created interface is recognised by its new life). Nothing changed: the same
 * account comes back, so an idle ledger is not rewritten. Bytes read after a
 * boundary belong to the new period, even those that passed just before it: at most one reading's
 * worth, and a budget is better charged early than late.
 */
export function record(
  acc: Account | undefined,
  def: PeriodDef,
  reading: CounterSample | undefined,
  now: number,
): Account {
  const a = advance(acc, def, now);
  if (reading === undefined || (a.last !== undefined && sameReading(a.last, reading))) return a;
  return { ...a, countedBytes: a.countedBytes + counterDelta(a.last, reading), last: reading };
}

export function addProbe(acc: Account | undefined, def: PeriodDef, bytes: number, now: number): Account {
  if (!Number.isFinite(bytes) || bytes < 0) throw new RangeError(`probe bytes must be >= 0, got ${bytes}`);
  const a = advance(acc, def, now);
  return { ...a, probeBytes: a.probeBytes + bytes };
}

export function usageOf(
  acc: Account | undefined,
  def: PeriodDef,
  budgetBytes: number,
  now: number,
): AccountUsage {
  const a = advance(acc, def, now);
  const usedBytes = Math.max(a.countedBytes, a.probeBytes);
  return {
    usedBytes,
    budgetBytes,
    probeBytes: a.probeBytes,
    period: a.period,
    exhausted: usedBytes >= budgetBytes,
  };
}
