// Safe reading of tool output: JSON values are `unknown` until a field accessor has checked them.
// Accessors return undefined for a missing or mistyped field, so parsers drop what they cannot trust
// instead of throwing.

export type Json = Record<string, unknown>;

export function isObject(v: unknown): v is Json {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

export function str(o: Json, k: string): string | undefined {
  const v = o[k];
  return typeof v === "string" ? v : undefined;
}

/**
 * A non-negative integer given as a number or as a string holding a decimal or 0x-hex integer
 * (iproute2 prints both). Every count, index, priority and mark we read is one.
 */
export function num(o: Json, k: string): number | undefined {
  return toNumber(o[k]);
}

export function toNumber(v: unknown): number | undefined {
  let n: number | undefined;
  if (typeof v === "number") n = v;
  else if (typeof v === "string" && /^0x[0-9a-f]{1,12}$/i.test(v)) n = parseInt(v.slice(2), 16);
  else if (typeof v === "string" && /^\d{1,15}$/.test(v)) n = Number(v);
  return n !== undefined && Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

export function obj(o: Json, k: string): Json | undefined {
  const v = o[k];
  return isObject(v) ? v : undefined;
}

export function arr(o: Json, k: string): unknown[] | undefined {
  const v = o[k];
  return Array.isArray(v) ? v : undefined;
}

export function strings(o: Json, k: string): string[] {
  return (arr(o, k) ?? []).filter((x): x is string => typeof x === "string");
}

/** Elements of a top-level JSON array that are objects; anything else gives none. */
export function objects(v: unknown): Json[] {
  return Array.isArray(v) ? v.filter(isObject) : [];
}

/** Map each element, dropping those the mapper rejects (undefined) or that make it throw. */
export function mapDefined<T>(items: readonly Json[], f: (o: Json) => T | undefined): T[] {
  const out: T[] = [];
  for (const o of items) {
    let r: T | undefined;
    try {
      r = f(o);
    } catch {
      r = undefined;
    }
    if (r !== undefined) out.push(r);
  }
  return out;
}

export type Segment = { readonly json: unknown } | { readonly text: string };

/**
 * Split the output of a `-batch` run into its parts: iproute2, tc and nft print each JSON document on
 * one line, and some tc commands print plain text lines instead. Lines that look like JSON but do not
 * parse are kept as text.
 */
export function splitBatchOutput(out: string): Segment[] {
  const segs: Segment[] = [];
  for (const line of out.split("\n")) {
    const t = line.trim();
    if (t === "") continue;
    if (t.startsWith("[") || t.startsWith("{")) {
      try {
        segs.push({ json: JSON.parse(t) as unknown });
        continue;
      } catch {
        // not JSON after all: keep it as text
      }
    }
    segs.push({ text: line });
  }
  return segs;
}

export function jsonSegments(segs: readonly Segment[]): unknown[] {
  return segs.flatMap((s) => ("json" in s ? [s.json] : []));
}
