import { describe, expect, it } from "vitest";
import { fc } from "../../support/fc.js";
import { applyOps, inverseOps, lookup, ModelKernel } from "../../../src/core/model-kernel/index.js";
import { loadableState, loadOps, freshState } from "../../../src/core/model-kernel/load.js";
import { canonicalJson } from "../../../src/util/canonical.js";
import { kernelStateArb, probeQueries } from "../../arbitraries/kernel-state.js";

describe("model kernel properties", () => {
  it("a generated state loads op by op without refusal and reproduces itself", () => {
    fc.assert(
      fc.property(kernelStateArb(), (s) => {
        expect(loadableState(s).refused).toEqual([]);
        expect(canonicalJson(loadableState(s).state)).toBe(canonicalJson(s));
      }),
    );
  });
  it("applying ops and then their inverses restores the state exactly", () => {
    fc.assert(
      fc.property(kernelStateArb(), (s) => {
        const ops = loadOps(s);
        const there = applyOps(freshState(), ops);
        expect(there.ok).toBe(true);
        if (!there.ok) return;
        const back = applyOps(there.state, inverseOps(ops));
        expect(back.ok && canonicalJson(back.state)).toBe(
          canonicalJson(ModelKernel.from(freshState()).state()),
        );
      }),
    );
  });
  it("lookup is deterministic", () => {
    fc.assert(
      fc.property(kernelStateArb(), (s) => {
        const k = ModelKernel.from(s);
        for (const q of probeQueries(s).slice(0, 4))
          expect(canonicalJson(k.lookup(q))).toBe(canonicalJson(lookup(s, q)));
      }),
    );
  });
});
