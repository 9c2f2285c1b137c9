import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { canonicalJson, plainEqual } from "../../src/util/canonical.js";

const numRuns = Number(process.env.FC_NUM_RUNS ?? 1000);
const value = fc.letrec((tie) => ({
  v: fc.oneof(
    { depthSize: "small" },
    fc.constantFrom(null, true, false, 0, 1, "a", "b"),
    fc.array(tie("v"), { maxLength: 3 }),
    // Members may be undefined (then absent); array elements may not (JSON writes them as null).
    fc.dictionary(fc.constantFrom("x", "y", "z"), fc.option(tie("v"), { nil: undefined }), { maxKeys: 3 }),
  ),
})).v;

describe("plainEqual", () => {
  it("agrees with comparing canonical JSON (key order ignored, undefined members absent)", () => {
    fc.assert(
      fc.property(value, value, (a, b) => {
        expect(plainEqual(a, b)).toBe(canonicalJson(a) === canonicalJson(b));
        expect(plainEqual(a, a)).toBe(true);
      }),
      { numRuns },
    );
  });
  it("treats a member set to undefined as absent", () => {
    expect(plainEqual({ a: 1, b: undefined }, { a: 1 })).toBe(true);
    expect(plainEqual({ a: 1 }, { a: 1, b: 2 })).toBe(false);
  });
});
