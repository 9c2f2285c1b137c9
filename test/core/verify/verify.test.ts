import { readdirSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { step } from "../../../src/core/decide/daemon-step.js";
import type { StepFn } from "../../../src/core/verify/sim.js";
import { simulatedNode, verifyPolicy } from "../../../src/core/verify/verify.js";
import { loadPolicy } from "../../../src/policy/load.js";
import type { EffectivePolicy } from "../../../src/policy/types.js";
import { FAST_PROBES, policyOf } from "../../support/daemon-sim.js";

const EXAMPLES = new URL("../../../examples/", import.meta.url).pathname;

const POLICY = `
uplinks:
  - {name: fibre, interface: eth0, kind: ethernet}
  - {name: lte, interface: wwan0, kind: lte}
  - {name: phone, interface: usb0, kind: usb-tether, use: emergency-only}
${FAST_PROBES}selection:
  rateLimit: {switches: 1, window: 1h}
hotspot:
  interface: ap0
  activate: when-no-uplink
  driver: wired
  security: open
  address: 100.64.50.1/24
  holdDown: {raise: 2s, lower: 3s}
`;

/** The daemon's step, deciding as if its policy said something else (a planted fault). */
const deciding =
  (edit: (p: EffectivePolicy) => EffectivePolicy): StepFn =>
  (s, e, now) => {
    const r = step({ ...s, policy: edit(s.policy) }, e, now);
    return { ...r, state: { ...r.state, policy: s.policy } };
  };

const OPTIONS = { runs: 300, seed: 7 };

describe("backhaul verify", () => {
  it("proves every example policy for its runs", async () => {
    for (const f of readdirSync(EXAMPLES).filter((n) => n.endsWith(".yaml"))) {
      const l = await loadPolicy(`${EXAMPLES}${f}`);
      if (!l.ok) throw new Error(`${f} does not load`);
      const r = verifyPolicy(l.policy, { runs: 30, seed: 1 });
      expect(r.ok, `${f}: ${r.ok ? "" : r.counterexample.timeline.join("\n")}`).toBe(true);
    }
  });

  it("proves the test policy, with its hotspot, switch limit and emergency-only phone", () => {
    expect(verifyPolicy(policyOf(POLICY), { runs: 100, seed: 7 })).toMatchObject({ ok: true, runs: 100 });
  });

  it("starts from a node with every uplink up, addressed and with a gateway, and the hotspot's interface", () => {
    const { kernel, ifaces } = simulatedNode(policyOf(POLICY));
    expect(ifaces).toEqual(["eth0", "wwan0", "usb0"]);
    expect(kernel.link.map((l) => [l.name, l.carrier])).toEqual(
      expect.arrayContaining([
        ["eth0", true],
        ["wwan0", true],
        ["usb0", true],
        ["ap0", true],
      ]),
    );
    expect(kernel.route.filter((r) => r.table === 254 && r.dst === "0.0.0.0/0")).toHaveLength(3);
  });

  it("finds a step that never applies: general traffic stays on an uplink that is not usable", () => {
    const lazy: StepFn = (s, e, now) => {
      const r = step(s, e, now);
      const intents = r.intents.filter((i) => i.type !== "transact");
      // Without its transaction the pass never settles: say it did nothing.
      const state = r.intents.length !== intents.length ? { ...r.state, pending: undefined } : r.state;
      return { state, intents };
    };
    const r = verifyPolicy(policyOf(POLICY), { ...OPTIONS, step: lazy });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.counterexample.violation.property).toBe("reaches-usable-uplink");
    expect(r.counterexample.timeline.at(-1)).toMatch(
      /VIOLATED reaches-usable-uplink: .* but general traffic/,
    );
  });

  it("finds a step that ignores the switch limit, shrunk to a short history, and names the limit", () => {
    const unlimited = deciding((p) => ({
      ...p,
      selection: { ...p.selection, rateLimit: { switches: 100, window: 1000 } },
    }));
    const r = verifyPolicy(policyOf(POLICY), { ...OPTIONS, step: unlimited });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.counterexample.violation).toMatchObject({
      property: "switch-limit",
      pointers: ["/selection/rateLimit"],
    });
    expect(r.counterexample.events.length).toBeLessThan(20);
  });

  it("finds a step that uses an emergency-only uplink while a normal one is usable", () => {
    const careless = deciding((p) => ({
      ...p,
      uplinks: p.uplinks.map((u) => (u.name === "phone" ? { ...u, use: "normal", bias: 10_000 } : u)),
    }));
    const r = verifyPolicy(policyOf(POLICY), { ...OPTIONS, step: careless });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.counterexample.violation).toMatchObject({
      property: "emergency-only",
      pointers: ["/uplinks/2/use"],
    });
  });

  it("finds a step whose hotspot says up while its access point is not planned", () => {
    const liar: StepFn = (s, e, now) => {
      const r = step(s, e, now);
      const h = r.state.hotspot;
      return h === undefined
        ? r
        : {
            ...r,
            state: { ...r.state, hotspot: { ...h, activation: { ...h.activation, up: !h.activation.up } } },
          };
    };
    const r = verifyPolicy(policyOf(POLICY), { ...OPTIONS, step: liar });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.counterexample.violation.property).toBe("hotspot-activation");
  });

  it("finds a step whose plan breaks an invariant after one of its ops", () => {
    const breaking: StepFn = (s, e, now) => {
      const r = step(s, e, now);
      return {
        ...r,
        intents: r.intents.map((i) =>
          i.type === "transact"
            ? {
                ...i,
                ops: i.ops.filter(
                  (op) => !(op.op === "add" && op.after.kind === "route" && op.after.table === 100),
                ),
              }
            : i,
        ),
      };
    };
    const r = verifyPolicy(policyOf(POLICY), { ...OPTIONS, step: breaking });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.counterexample.violation.property).toMatch(/invariants|reaches-usable-uplink/);
  });

  it("gives the same answer for the same seed", () => {
    const careless = deciding((p) => ({
      ...p,
      uplinks: p.uplinks.map((u) => (u.name === "phone" ? { ...u, use: "normal", bias: 10_000 } : u)),
    }));
    const a = verifyPolicy(policyOf(POLICY), { ...OPTIONS, step: careless });
    expect(a.ok).toBe(false);
    expect(verifyPolicy(policyOf(POLICY), { ...OPTIONS, step: careless })).toEqual(a);
  });
});
