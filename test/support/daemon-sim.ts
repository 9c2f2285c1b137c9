// The daemon's simulated world (src/core/verify/sim.ts, which `backhaul verify` drives) for tests, with
// a policy from text and generated world events.
import { loadPolicyTexts } from "../../src/policy/load.js";
import { formatOneLine } from "../../src/policy/diagnostic-line.js";
import type { EffectivePolicy } from "../../src/policy/types.js";
import type { WorldEvent } from "../../src/core/verify/sim.js";
import { fc } from "./fc.js";

export * from "../../src/core/verify/sim.js";

export function policyOf(text: string): EffectivePolicy {
  const r = loadPolicyTexts([{ file: "sim.yaml", text }]);
  if (!r.ok) throw new Error(r.diagnostics.map(formatOneLine).join("; "));
  return r.policy;
}

/**
 * World events on the given interfaces: mostly probe rounds, now and then a carrier change, answers
 * stopping or resuming (a gray failure) and a periodic pass; `answers: false` leaves gray failures out.
 */
export function worldEventArb(
  ifaces: readonly string[],
  o: { readonly answers?: boolean; readonly roundDt?: number } = {},
): fc.Arbitrary<WorldEvent> {
  const iface = fc.constantFrom(...ifaces);
  return fc.oneof(
    {
      weight: 6,
      arbitrary: fc.record({
        dt: fc.integer({ min: 0, max: o.roundDt ?? 1500 }),
        type: fc.constant("round" as const),
        iface,
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        dt: fc.integer({ min: 0, max: 3000 }),
        type: fc.constant("carrier" as const),
        iface,
        up: fc.boolean(),
      }),
    },
    {
      weight: o.answers === false ? 0 : 1,
      arbitrary: fc.record({
        dt: fc.integer({ min: 0, max: 3000 }),
        type: fc.constant("answers" as const),
        iface,
        answers: fc.boolean(),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({ dt: fc.integer({ min: 0, max: 5000 }), type: fc.constant("periodic" as const) }),
    },
  );
}

/** A probes section that judges uplinks within a few simulated seconds (policy text). */
export const FAST_PROBES = `probes:
  targets: [tcp://192.0.2.10:443]
  quorum: 1
  interval: 1s
  timeout: 500ms
  failuresBeforeDegraded: 1
  failuresBeforeDown: 2
  successesToRecover: 1
  holdDown: {upToDegraded: 1s, degradedToDown: 1s, downToProbing: 1s, probingToUp: 1s}
  minStateDuration: 500ms
`;
