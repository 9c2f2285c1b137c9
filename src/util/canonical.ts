import { createHash } from "node:crypto";

/** JSON with object keys sorted and undefined members dropped: equal values give equal strings. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === "object") {
    // defineProperty, not assignment: a "__proto__" key in data must stay data, not become a prototype.
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[k];
      if (v !== undefined) {
        Object.defineProperty(out, k, {
          value: sortKeys(v),
          enumerable: true,
          writable: true,
          configurable: true,
        });
      }
    }
    return out;
  }
  return value;
}

export function sha256(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

/** A stable digest of any plain value. */
export function digest(value: unknown): string {
  return sha256(canonicalJson(value));
}
