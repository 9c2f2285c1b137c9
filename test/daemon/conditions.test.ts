import { describe, expect, it } from "vitest";
import { fc } from "../support/fc.js";
import { CONDITION_TYPES, deriveConditions, type ConditionFacts } from "../../src/daemon/conditions.js";
import type { Condition, PassOutcome, PassRecord } from "../../src/daemon/status-model.js";

const OUTCOMES: readonly PassOutcome[] = ["no-change", "applied", "rolled-back", "rollback-failed", "failed"];

const passArb: fc.Arbitrary<PassRecord> = fc.record(
  {
    startedAt: fc.constant("2026-11-23T15:00:00.000Z"),
    durationMs: fc.nat(5000),
    triggers: fc.array(fc.constantFrom("periodic", "link eth0", "policy"), { maxLength: 3 }),
    path: fc.constantFrom("full" as const, "fast" as const),
    outcome: fc.constantFrom(...OUTCOMES),
    ops: fc.nat(20),
    error: fc.string({ maxLength: 20 }),
  },
  { requiredKeys: ["startedAt", "durationMs", "triggers", "path", "outcome", "ops"] },
);

const factsArb: fc.Arbitrary<ConditionFacts> = fc.record(
  {
    passInFlight: fc.boolean(),
    lastPass: passArb,
    consecutiveFailures: fc.nat(5),
    policyRejected: fc.record({ errors: fc.array(fc.string({ maxLength: 30 }), { maxLength: 3 }) }),
    converged: fc.boolean(),
    anyUsableUplink: fc.boolean(),
  },
  { requiredKeys: ["passInFlight", "consecutiveFailures", "converged", "anyUsableUplink"] },
);

/** A run of the loop: facts at strictly increasing times. */
const runArb = fc.array(fc.tuple(factsArb, fc.integer({ min: 1, max: 3_600_000 })), {
  minLength: 1,
  maxLength: 12,
});

const T0 = Date.parse("2026-11-23T12:00:00.000Z");

function replay(
  run: readonly (readonly [ConditionFacts, number])[],
): { now: Date; conditions: Condition[] }[] {
  const out: { now: Date; conditions: Condition[] }[] = [];
  let t = T0;
  let prev: Condition[] = [];
  for (const [facts, step] of run) {
    t += step;
    const now = new Date(t);
    prev = deriveConditions(prev, facts, now);
    out.push({ now, conditions: prev });
  }
  return out;
}

const byType = (cs: readonly Condition[], t: string): Condition => {
  const c = cs.find((x) => x.type === t);
  if (c === undefined) throw new Error(`no ${t} condition`);
  return c;
};

const succeeded = (p: PassRecord | undefined) => p?.outcome === "no-change" || p?.outcome === "applied";

describe("daemon conditions", () => {
  it("are exactly Ready, Reconciling and Stalled, once each, with a one-word reason", () => {
    fc.assert(
      fc.property(runArb, (run) => {
        for (const { conditions } of replay(run)) {
          // Plain checks, one expect per run: expect() inside the loop costs more than the property.
          const wellFormed =
            conditions.map((c) => c.type).join() === CONDITION_TYPES.join() &&
            conditions.every(
              (c) =>
                /^[A-Z][A-Za-z]*$/.test(c.reason) &&
                (c.status === "True" || c.status === "False") &&
                new Date(c.lastTransitionTime).toISOString() === c.lastTransitionTime,
            );
          if (!wellFormed) expect(conditions).toBe("well formed");
        }
      }),
    );
  });

  it("move lastTransitionTime exactly when status or reason changes", () => {
    fc.assert(
      fc.property(runArb, (run) => {
        const steps = replay(run);
        steps.forEach(({ now, conditions }, i) => {
          for (const c of conditions) {
            const before = i === 0 ? undefined : byType(steps[i - 1]!.conditions, c.type);
            const changed = before === undefined || before.status !== c.status || before.reason !== c.reason;
            const want = changed ? now.toISOString() : before.lastTransitionTime;
            if (c.lastTransitionTime !== want) expect(c.lastTransitionTime).toBe(want);
          }
        });
      }),
    );
  });

  it("are stable: the same facts again change nothing, not even the times", () => {
    fc.assert(
      fc.property(runArb, fc.integer({ min: 1, max: 100_000 }), (run, later) => {
        const steps = replay(run);
        const last = steps[steps.length - 1]!;
        const again = deriveConditions(
          last.conditions,
          run[run.length - 1]![0],
          new Date(last.now.getTime() + later),
        );
        expect(again).toEqual(last.conditions);
      }),
    );
  });

  it("say Ready only after a successful, converged pass with no failure streak and a usable uplink", () => {
    fc.assert(
      fc.property(factsArb, (f) => {
        const ready = byType(deriveConditions([], f, new Date(T0)), "Ready");
        const expected =
          succeeded(f.lastPass) && f.consecutiveFailures === 0 && f.converged && f.anyUsableUplink;
        expect(ready.status === "True").toBe(expected);
      }),
    );
  });

  it("never say Ready and Retrying at once", () => {
    fc.assert(
      fc.property(runArb, (run) => {
        for (const { conditions } of replay(run)) {
          if (byType(conditions, "Ready").status === "True")
            expect(byType(conditions, "Reconciling").reason).not.toBe("Retrying");
        }
      }),
    );
  });

  it("leave Ready as it is when a policy edit is refused, and say Stalled/PolicyInvalid", () => {
    fc.assert(
      fc.property(
        factsArb,
        fc.array(fc.string({ minLength: 1 }), { minLength: 1, maxLength: 3 }),
        (f, errors) => {
          const { policyRejected: _, ...accepted } = f;
          const without = deriveConditions([], accepted, new Date(T0));
          const withRefusal = deriveConditions([], { ...accepted, policyRejected: { errors } }, new Date(T0));
          expect(byType(withRefusal, "Ready").status).toBe(byType(without, "Ready").status);
          expect(byType(withRefusal, "Ready").reason).toBe(byType(without, "Ready").reason);
          const stalled = byType(withRefusal, "Stalled");
          expect(stalled.status).toBe("True");
          expect(stalled.message).toContain(errors[0]);
        },
      ),
    );
  });

  it("keep Stalled/RollbackFailed across failing passes until a pass succeeds", () => {
    const pass = (outcome: PassOutcome, error?: string): PassRecord => ({
      startedAt: "2026-11-23T15:00:00.000Z",
      durationMs: 12,
      triggers: ["periodic"],
      path: "full",
      outcome,
      ops: 3,
      ...(error !== undefined ? { error } : {}),
    });
    const base = { passInFlight: false, converged: false, anyUsableUplink: true };
    const t = (s: number) => new Date(T0 + s * 1000);
    const a = deriveConditions(
      [],
      { ...base, lastPass: pass("rollback-failed", "ip: Cannot find device"), consecutiveFailures: 1 },
      t(1),
    );
    expect(byType(a, "Stalled")).toMatchObject({ status: "True", reason: "RollbackFailed" });
    expect(byType(a, "Stalled").message).toContain("ip: Cannot find device");
    expect(byType(a, "Ready")).toMatchObject({ status: "False", reason: "PassFailing" });
    expect(byType(a, "Reconciling")).toMatchObject({ status: "True", reason: "Retrying" });

    const b = deriveConditions(
      a,
      { ...base, lastPass: pass("failed", "timeout"), consecutiveFailures: 2 },
      t(2),
    );
    expect(byType(b, "Stalled")).toMatchObject({
      reason: "RollbackFailed",
      lastTransitionTime: t(1).toISOString(),
    });

    const c = deriveConditions(
      b,
      { ...base, converged: true, lastPass: pass("applied"), consecutiveFailures: 0 },
      t(3),
    );
    expect(byType(c, "Stalled")).toMatchObject({ status: "False", reason: "AsExpected" });
    expect(byType(c, "Ready")).toMatchObject({
      status: "True",
      reason: "Converged",
      lastTransitionTime: t(3).toISOString(),
    });
    expect(byType(c, "Reconciling")).toMatchObject({ status: "False", reason: "Idle" });
  });

  it("say Starting before the first pass, and NoUsableUplink ahead of a failing pass", () => {
    const now = new Date(T0);
    const start = deriveConditions(
      [],
      { passInFlight: true, consecutiveFailures: 0, converged: false, anyUsableUplink: false },
      now,
    );
    expect(byType(start, "Ready")).toMatchObject({ status: "False", reason: "Starting" });
    expect(byType(start, "Reconciling")).toMatchObject({ status: "True", reason: "Applying" });
    const offline = deriveConditions(
      start,
      {
        passInFlight: false,
        lastPass: {
          startedAt: now.toISOString(),
          durationMs: 9,
          triggers: ["link eth0"],
          path: "fast",
          outcome: "failed",
          ops: 1,
        },
        consecutiveFailures: 1,
        converged: false,
        anyUsableUplink: false,
      },
      now,
    );
    expect(byType(offline, "Ready")).toMatchObject({ status: "False", reason: "NoUsableUplink" });
  });
});
