// Durations, rates, sizes and percentages as people write them, and back.
// One module so every part of backhaul reads `5s`, `10mbit` and `2GiB` the same way.
// Rates follow tc(8): `bit` suffixes are bits per second, `bps` suffixes are BYTES per second,
// k/m/g/t are powers of 1000 and ki/mi/gi/ti powers of 1024; unit names are case-insensitive.

export class UnitError extends Error {
  override readonly name = "UnitError";
}

const DURATION_UNITS: Readonly<Record<string, number>> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

const RATE_UNITS: Readonly<Record<string, number>> = {
  bit: 1,
  kbit: 1e3,
  mbit: 1e6,
  gbit: 1e9,
  tbit: 1e12,
  kibit: 1024,
  mibit: 1024 ** 2,
  gibit: 1024 ** 3,
  tibit: 1024 ** 4,
  bps: 8,
  kbps: 8e3,
  mbps: 8e6,
  gbps: 8e9,
  tbps: 8e12,
  kibps: 8 * 1024,
  mibps: 8 * 1024 ** 2,
  gibps: 8 * 1024 ** 3,
  tibps: 8 * 1024 ** 4,
};

const SIZE_UNITS: Readonly<Record<string, number>> = {
  B: 1,
  KB: 1e3,
  MB: 1e6,
  GB: 1e9,
  TB: 1e12,
  KiB: 1024,
  MiB: 1024 ** 2,
  GiB: 1024 ** 3,
  TiB: 1024 ** 4,
};

const NUMBER = "(\\d+(?:\\.\\d+)?)";

function unitList(units: Readonly<Record<string, number>>): string {
  return Object.keys(units).join(", ");
}

/** Multiply a decimal text by an integer factor exactly, refusing results that are not whole units. */
function scale(num: string, factor: number, what: string, input: string, smallest: string): number {
  const [int = "0", frac = ""] = num.split(".");
  const denominator = 10 ** frac.length;
  const numerator = Number(int + frac);
  const value = (numerator * factor) / denominator;
  if (!Number.isInteger(value)) {
    throw new UnitError(`${what} "${input}" is not a whole number of ${smallest}`);
  }
  if (!Number.isSafeInteger(value)) throw new UnitError(`${what} "${input}" is too large`);
  return value;
}

function expectString(input: unknown, what: string, examples: string): string {
  if (typeof input !== "string") {
    throw new UnitError(`expected a ${what} such as ${examples}, got ${JSON.stringify(input)}`);
  }
  return input.trim();
}

/**
 * `250ms`, `5s`, `1h30m`, `1.5s`, `2d` → milliseconds. Components go from larger to smaller units,
 * each at most once.
 */
export function parseDuration(input: unknown): number {
  const examples = "250ms, 5s or 1h30m";
  const text = expectString(input, "duration", examples);
  if (text === "") throw new UnitError(`expected a duration such as ${examples}, got an empty string`);
  if (/^\d+(\.\d+)?$/.test(text)) {
    throw new UnitError(
      `duration "${text}" has no unit: write ${text}s or ${text}ms (units: ms, s, m, h, d)`,
    );
  }
  const re = new RegExp(`^${NUMBER}(ms|s|m|h|d)`, "i");
  let rest = text;
  let total = 0;
  let lastFactor = Infinity;
  while (rest !== "") {
    const m = re.exec(rest);
    if (!m) {
      throw new UnitError(
        `duration "${text}" is not understood: expected a number and a unit (ms, s, m, h, d), e.g. ${examples}`,
      );
    }
    const unit = m[2]!.toLowerCase();
    const factor = DURATION_UNITS[unit]!;
    if (factor >= lastFactor) {
      throw new UnitError(
        `duration "${text}": write its parts from larger to smaller units, each once (e.g. 1h30m)`,
      );
    }
    lastFactor = factor;
    total += scale(m[1]!, factor, "duration", text, "milliseconds");
    rest = rest.slice(m[0].length);
  }
  if (!Number.isSafeInteger(total)) throw new UnitError(`duration "${text}" is too large`);
  return total;
}

/** Milliseconds → the shortest text parseDuration reads back to the same value (`1h30m`, `250ms`, `0s`). */
export function formatDuration(ms: number): string {
  if (!Number.isSafeInteger(ms) || ms < 0) throw new UnitError(`cannot format ${ms} as a duration`);
  if (ms === 0) return "0s";
  let rest = ms;
  let out = "";
  for (const [unit, factor] of Object.entries(DURATION_UNITS).sort((a, b) => b[1] - a[1])) {
    const n = Math.floor(rest / factor);
    if (n > 0) {
      out += `${n}${unit}`;
      rest -= n * factor;
    }
  }
  return out;
}

function parseWithUnits(
  input: unknown,
  what: string,
  examples: string,
  units: Readonly<Record<string, number>>,
  smallest: string,
): number {
  const text = expectString(input, what, examples);
  const m = new RegExp(`^${NUMBER}\\s*([a-z]*)$`, "i").exec(text);
  if (!m)
    throw new UnitError(
      `${what} "${text}" is not understood: expected a number and a unit, e.g. ${examples}`,
    );
  const unit = m[2]!.toLowerCase();
  if (unit === "") throw new UnitError(`${what} "${text}" has no unit (units: ${unitList(units)})`);
  const factor = Object.entries(units).find(([u]) => u.toLowerCase() === unit)?.[1];
  if (factor === undefined) {
    throw new UnitError(`${what} "${text}": unknown unit "${m[2]}" (units: ${unitList(units)})`);
  }
  return scale(m[1]!, factor, what, text, smallest);
}

/** `10mbit`, `512kbit`, `1gbit`, `100kbps` (kilobytes per second, as tc) → bits per second. */
export function parseRate(input: unknown): number {
  return parseWithUnits(input, "rate", "512kbit, 10mbit or 1gbit", RATE_UNITS, "bits per second");
}

/** `2GiB`, `500MB`, `1024B` → bytes. */
export function parseSize(input: unknown): number {
  return parseWithUnits(input, "size", "500MB or 2GiB", SIZE_UNITS, "bytes");
}

/** `10%`, `0.5%` → the number before the sign, 0..100. */
export function parsePercent(input: unknown): number {
  const text = expectString(input, "percentage", "10% or 2.5%");
  const m = /^(\d{1,3}(?:\.\d{1,3})?)\s*%$/.exec(text);
  if (!m)
    throw new UnitError(
      `percentage "${text}" is not understood: expected a number (at most 3 decimals) and %, e.g. 10%`,
    );
  const value = Number(m[1]);
  if (value > 100) throw new UnitError(`percentage "${text}" is above 100%`);
  return value;
}

function formatExact(
  value: number,
  candidates: readonly (readonly [string, number])[],
  what: string,
): string {
  if (!Number.isSafeInteger(value) || value < 0) throw new UnitError(`cannot format ${value} as a ${what}`);
  for (const [unit, factor] of candidates) {
    if (value !== 0 && value % factor === 0) return `${value / factor}${unit}`;
  }
  return `${value}${candidates[candidates.length - 1]![0]}`;
}

const RATE_FORMATS = [
  ["gbit", 1e9],
  ["mbit", 1e6],
  ["kbit", 1e3],
  ["bit", 1],
] as const;

/** Bits per second → the largest decimal bit unit that is exact (`10mbit`, `1500bit`). */
export function formatRate(bps: number): string {
  return formatExact(bps, RATE_FORMATS, "rate");
}

const SIZE_FORMATS = [
  ["TiB", 1024 ** 4],
  ["TB", 1e12],
  ["GiB", 1024 ** 3],
  ["GB", 1e9],
  ["MiB", 1024 ** 2],
  ["MB", 1e6],
  ["KiB", 1024],
  ["KB", 1e3],
  ["B", 1],
] as const;

/** Bytes → the largest exact unit, binary before decimal at the same magnitude (`2GiB`, `500MB`). */
export function formatSize(bytes: number): string {
  return formatExact(bytes, SIZE_FORMATS, "size");
}

export function formatPercent(p: number): string {
  if (!Number.isFinite(p) || p < 0 || p > 100) throw new UnitError(`cannot format ${p} as a percentage`);
  return `${p}%`;
}
