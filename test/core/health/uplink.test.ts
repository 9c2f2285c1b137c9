import { describe, expect, it } from "vitest";
import {
  healthOf,
  onPhysical,
  onRound,
  track,
  type HealthConfig,
  type Tracked,
} from "../../../src/core/health/uplink.js";
import { physicalOf } from "../../../src/core/health/uplink.js";
import { patchLink } from "../../../src/core/decide/fast-path.js";
import { previousFromKernel } from "../../../src/core/decide/daemon-step.js";
import { indexObserved } from "../../../src/core/selection/gateway.js";
import { plannerInputs } from "../../../src/core/plan/inputs.js";
import { layoutFor } from "../../../src/core/plan/desired.js";
import type { Route } from "../../../src/kinds/types.js";
import { node, uplink } from "../../support/plan-fixtures.js";
import { loadPolicyTexts } from "../../../src/policy/load.js";

const cfg: HealthConfig = {
  thresholds: {
    quorum: 1,
    failuresBeforeDegraded: 2,
    failuresBeforeDown: 3,
    successesToRecover: 2,
    degradedRttMs: 500,
    degradedLossPct: 20,
    recoverRttMs: 400,
    recoverLossPct: 10,
    window: 10,
    rttAlpha: 1 / 8,
  },
  holdDowns: {
    upToDegradedMs: 1000,
    degradedToDownMs: 1000,
    downToProbingMs: 1000,
    probingToUpMs: 1000,
    minStateDurationMs: 500,
  },
};
const ok = { answered: 1, asked: 1, rttsMs: [10] };
const fail = { answered: 0, asked: 1, rttsMs: [] };

/** Feed rounds every 250 ms; returns the states visited, the starting one first. */
function feed(
  t: Tracked,
  rounds: readonly (typeof ok)[],
  start: number,
): { t: Tracked; states: string[]; now: number } {
  const states: string[] = [t.machine.state];
  let now = start;
  for (const r of rounds) {
    now += 250;
    t = onRound(t, r, now, cfg);
    if (states.at(-1) !== t.machine.state) states.push(t.machine.state);
  }
  return { t, states, now };
}

describe("an uplink's health from probe rounds and the kernel", () => {
  it("goes Probing → Up on good rounds, after the hold-down", () => {
    const r = feed(track(0), Array(8).fill(ok), 0);
    expect(r.states).toEqual(["probing", "up"]);
    expect(healthOf(r.t)).toMatchObject({ state: "up", rttMs: 10, lossPct: 0, successRate: 1 });
  });
  it("a gray failure takes it Up → Degraded → Down, and back only through Probing", () => {
    const upNow = feed(track(0), Array(8).fill(ok), 0);
    const failing = feed(upNow.t, Array(16).fill(fail), upNow.now);
    expect(failing.states).toEqual(["up", "degraded", "down"]);
    const back = feed(failing.t, Array(24).fill(ok), failing.now);
    expect(back.states).toEqual(["down", "probing", "up"]);
  });
  it("stays Down while the probes keep failing, and starts Probing afresh once they answer", () => {
    const upNow = feed(track(0), Array(8).fill(ok), 0);
    const failing = feed(upNow.t, Array(40).fill(fail), upNow.now);
    expect(failing.states).toEqual(["up", "degraded", "down"]);
    const answering = feed(failing.t, [ok], failing.now);
    expect(answering.t.machine.state).toBe("probing");
    expect(answering.t.stats.rounds).toBe(0);
  });
  it("physical loss goes Down at once, whatever the hold-downs", () => {
    const upNow = feed(track(0), Array(8).fill(ok), 0);
    const lost = onPhysical(upNow.t, { ok: false, why: "carrier lost" }, upNow.now + 1, cfg);
    expect(lost.machine).toMatchObject({ state: "down", reason: "carrier lost" });
    expect(lost.stats.rounds).toBe(0);
  });
  it("reads the physical state from the observation: link, carrier, IPv4 address", () => {
    const ix = (carrier: boolean) => indexObserved(node({ carrier: { eth0: carrier } }));
    expect(physicalOf(uplink("eth0", "ethernet"), ix(true))).toEqual({ ok: true });
    expect(physicalOf(uplink("eth0", "ethernet"), ix(false))).toEqual({ ok: false, why: "carrier lost" });
    expect(physicalOf(uplink("eth9", "ethernet"), ix(true))).toEqual({
      ok: false,
      why: "interface eth9 not present",
    });
    const noAddr = { ...node(), address: [] };
    expect(physicalOf(uplink("eth0", "ethernet"), indexObserved(noAddr))).toEqual({
      ok: false,
      why: "no IPv4 address",
    });
  });
});

describe("the fast path's patch of the last observation", () => {
  it("marks a link without carrier", () => {
    const s = patchLink(node(), { ifname: "eth0", deleted: false, adminUp: true, carrier: false });
    expect(s.link.find((l) => l.name === "eth0")).toMatchObject({
      carrier: false,
      operState: "lowerlayerdown",
    });
    expect(s.link.filter((l) => l.carrier)).toHaveLength(2);
  });
  it("takes a deleted link's addresses and routes with it", () => {
    const s = patchLink(node(), { ifname: "eth0", deleted: true, adminUp: false, carrier: false });
    expect(s.link.map((l) => l.name)).not.toContain("eth0");
    expect(s.address.some((a) => a.dev === "eth0")).toBe(false);
    expect(s.route.some((r) => r.dev === "eth0")).toBe(false);
    expect(s.route).toHaveLength(2);
  });
});

describe("the active set after a restart", () => {
  it("is read from the kernel's active table, so a restarted daemon keeps it", () => {
    const loaded = loadPolicyTexts([
      {
        file: "p.yaml",
        text: "uplinks:\n  - {name: fibre, interface: eth0}\n  - {name: wifi, interface: wlan0}\nprobes:\n  targets: [tcp://198.51.100.10:443]\n",
      },
    ]);
    if (!loaded.ok) throw new Error("policy");
    const observed = node();
    const inputs = plannerInputs(loaded.policy, observed);
    const layout = layoutFor(inputs.uplinks, inputs.routing);
    expect(previousFromKernel(observed, inputs, layout)).toBeUndefined();
    const active: Route = {
      kind: "route",
      family: 4,
      table: layout.activeTable,
      type: "unicast",
      dst: "0.0.0.0/0",
      metric: 0,
      protocol: inputs.routing.protocol,
      scope: "global",
      gateway: "203.0.113.1",
      dev: "wlan0",
    };
    expect(previousFromKernel({ ...observed, route: [...observed.route, active] }, inputs, layout)).toEqual({
      active: [{ name: "wifi", weight: 1, score: 0 }],
      usable: ["wifi"],
    });
  });
});
