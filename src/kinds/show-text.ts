// Text helpers the kinds' `show` sections share.

/** Columns padded to their widest cell; the last column is not padded. */
export function columns(rows: readonly (readonly string[])[], indent = "  "): string[] {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return rows.map(
    (r) =>
      indent +
      r
        .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
        .join("  ")
        .trimEnd(),
  );
}

/** 10000000 → "10Mbit": rates are stored in bit/s, shown as tc writes them. */
export function rateText(bps: number): string {
  for (const [unit, f] of [
    ["Gbit", 1e9],
    ["Mbit", 1e6],
    ["Kbit", 1e3],
  ] as const) {
    if (bps >= f && bps % (f / 1000) === 0) return `${bps / f}${unit}`;
  }
  return `${bps}bit`;
}

/** Options as "key value" pairs, rates in tc's words. */
export const optionText = (o: Readonly<Record<string, string | number | boolean>>): string =>
  Object.entries(o)
    .map(([k, v]) => `${k} ${typeof v === "number" && /^(rate|ceil)$/.test(k) ? rateText(v) : String(v)}`)
    .join(" ");
