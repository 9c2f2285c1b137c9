import { readdirSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { step, type DaemonEvent } from "../../../src/core/decide/daemon-step.js";
import { fullPass, startSim, type StepFn } from "../../../src/core/verify/sim.js";
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
    return { ...r, state: { ...r.state, policy: e.type === "policy" ? e.policy : s.policy } };
  };

/** The daemon's step, fed events changed on the way in (a planted fault). */
const hearing =
  (edit: (e: DaemonEvent) => DaemonEvent): StepFn =>
  (s, e, now) =>
    step(s, edit(e), now);

/** A metered LTE line preferred over the fibre, kept for emergencies once its budget is spent. */
const METERED = (onExhausted: string) => `
uplinks:
  - {name: lte, interface: wwan0, kind: lte, bias: 200, metered: {budget: 1GiB, period: daily, onExhausted: ${onExhausted}}}
  - {name: fibre, interface: eth0, kind: ethernet}
${FAST_PROBES}`;

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
    // A small switch margin: every return of the fibre is a voluntary switch back to it.
    const policy = policyOf(POLICY.replace("selection:\n", "selection:\n  switchMargin: 10\n"));
    expect(verifyPolicy(policy, OPTIONS).ok).toBe(true);
    const r = verifyPolicy(policy, { ...OPTIONS, step: unlimited });
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

  it("proves metered budgets with each onExhausted, their periods rolling over", () => {
    for (const mode of ["emergency-only", "keep"])
      expect(verifyPolicy(policyOf(METERED(mode)), { runs: 60, seed: 3 }), mode).toMatchObject({ ok: true });
    const withdraw = `${METERED("never")}selection:\n  noUsableUplink: withdraw\n`;
    expect(verifyPolicy(policyOf(withdraw), { runs: 60, seed: 3 })).toMatchObject({ ok: true });
  });

  it("finds that onExhausted never with keep-last keeps the last route through the spent uplink", () => {
    const r = verifyPolicy(policyOf(`${METERED("never")}selection:\n  noUsableUplink: keep-last\n`), OPTIONS);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.counterexample.violation).toMatchObject({
      property: "metered-budget",
      pointers: ["/uplinks/0/metered/onExhausted", "/uplinks/0/metered/budget", "/selection/noUsableUplink"],
    });
  });

  it("finds a step that never hears of the budget: a spent uplink keeps traffic from a usable fibre", () => {
    const deaf = hearing((e) => ("usage" in e ? { ...e, usage: {} } : e));
    const r = verifyPolicy(policyOf(METERED("emergency-only")), { ...OPTIONS, step: deaf });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.counterexample.violation).toMatchObject({
      property: "metered-budget",
      pointers: ["/uplinks/0/metered/onExhausted", "/uplinks/0/metered/budget"],
    });
    expect(r.counterexample.violation.message).toMatch(
      /lte has used .* of its 1\.0 GiB budget .* while fibre is usable/,
    );
    expect(r.counterexample.timeline.join("\n")).toMatch(
      /lte has used .* of its 1\.0 GiB budget; the period ends at/,
    );
  });

  it("finds a step that takes onExhausted never for emergency-only: a spent uplink carries traffic", () => {
    const lenient = deciding((p) => ({
      ...p,
      uplinks: p.uplinks.map((u) =>
        u.metered === undefined ? u : { ...u, metered: { ...u.metered, onExhausted: "emergency-only" } },
      ),
    }));
    const withdraw = policyOf(`${METERED("never")}selection:\n  noUsableUplink: withdraw\n`);
    const r = verifyPolicy(withdraw, { ...OPTIONS, step: lenient });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.counterexample.violation.property).toBe("metered-budget");
    expect(r.counterexample.violation.message).toMatch(/onExhausted: never/);
  });

  it("finds a step that does not know the node is on battery: probes not stretched by batteryFactor", () => {
    const mains = hearing((e) => (e.type === "observed" || e.type === "link" ? { ...e, battery: false } : e));
    const r = verifyPolicy(policyOf(POLICY), { ...OPTIONS, step: mains });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.counterexample.violation).toMatchObject({
      property: "probe-cadence",
      pointers: ["/probes/interval", "/probes/batteryFactor"],
    });
    expect(r.counterexample.events.map((e) => e.type)).toEqual(["battery"]);
    expect(r.counterexample.timeline).toContainEqual(expect.stringMatching(/ the node runs on battery$/));
  });

  it("finds a step that cleans up foreign rules, and keeps the invariants beside them otherwise", () => {
    const tidy: StepFn = (s, e, now) => {
      const r = step(s, e, now);
      return {
        ...r,
        intents: r.intents.map((i) =>
          i.type === "transact"
            ? {
                ...i,
                ops: [
                  ...i.ops,
                  ...i.observed.rule
                    .filter((x) => x.protocol === 3)
                    .map((before) => ({ op: "delete" as const, before })),
                ],
              }
            : i,
        ),
      };
    };
    const r = verifyPolicy(policyOf(POLICY), { ...OPTIONS, step: tidy });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.counterexample.violation.property).toBe("foreign-kept");
    expect(r.counterexample.violation.message).toMatch(/a foreign rule \(.*10\.99\..*\) was taken away/);
    expect(r.counterexample.timeline).toContainEqual(expect.stringMatching(/ a foreign rule appears: /));
  });

  it("finds a step that ignores reloads: traffic stays on an uplink the new policy removed", () => {
    const stubborn = hearing((e) => (e.type === "policy" ? { type: "transacted", outcome: "applied" } : e));
    const r = verifyPolicy(policyOf(POLICY), { ...OPTIONS, step: stubborn });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.counterexample.violation.property).toBe("reaches-usable-uplink");
    expect(r.counterexample.violation.message).toMatch(/which the policy does not let it use/);
    expect(r.counterexample.timeline).toContainEqual(expect.stringMatching(/ policy reloaded: \w+ removed$/));
  });

  it("finds a step that keeps the first DHCP lease it saw: traffic goes to a router that moved", () => {
    let first: DaemonEvent | undefined;
    const stale = hearing((e) => {
      if (e.type !== "observed") return e;
      first ??= e;
      const clients = first.type === "observed" ? first.observed["dhcp-client"] : [];
      return { ...e, observed: { ...e.observed, "dhcp-client": clients }, inputs: undefined };
    });
    const policy = policyOf(`
uplinks:
  - {name: lte, interface: wwan0, kind: lte, addressing: dhcp}
${FAST_PROBES}`);
    expect(verifyPolicy(policy, OPTIONS).ok).toBe(true);
    const r = verifyPolicy(policy, { ...OPTIONS, step: stale });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.counterexample.violation.property).toBe("reaches-usable-uplink");
    expect(r.counterexample.timeline).toContainEqual(
      expect.stringMatching(/ lte \(wwan0\) lease renewed: 10\.100\.\d+\.\d+\/24 via 10\.100\.\d+\.1$/),
    );
  });

  it("starts from a recorded node: one where backhaul already routes, as `show --json` gives it", () => {
    const policy = policyOf(POLICY);
    const sim = startSim(policy, simulatedNode(policy).kernel, Date.UTC(2026, 0, 1));
    fullPass(sim, "recorded");
    expect(sim.kernel.rule.some((x) => x.protocol === policy.routing.protocol)).toBe(true);
    const r = verifyPolicy(policy, {
      runs: 40,
      seed: 2,
      against: { observed: sim.kernel, netns: undefined },
    });
    expect(r).toMatchObject({ ok: true, runs: 40 });
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
