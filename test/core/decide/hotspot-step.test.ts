import { describe, expect, it } from "vitest";
import { fc } from "../../support/fc.js";
import { addr, link, merge, node as bareNode } from "../../support/plan-fixtures.js";
import {
  FAST_PROBES,
  fullPass,
  happen,
  policyOf,
  startSim,
  withConnected,
  worldEventArb,
} from "../../support/daemon-sim.js";
import { hotspotDue } from "../../../src/core/decide/daemon-step.js";
import { emptyState } from "../../../src/kinds/registry.js";
import type { KernelState } from "../../../src/kinds/types.js";

const POLICY = (activate: string) => `
uplinks:
  - {name: fibre, interface: eth0, kind: ethernet}
  - {name: lte, interface: wwan0, kind: lte}
${FAST_PROBES}hotspot:
  interface: ap0
  activate: ${activate}
  driver: wired
  security: open
  address: 100.64.50.1/24
  holdDown: {raise: 2s, lower: 3s}
`;

const T = Date.UTC(2026, 11, 7, 12, 0, 0);
const UPLINKS = ["eth0", "wwan0"] as const;

/** The test node with a hotspot interface of its own (ap0), beside the uplinks. */
function kernel(): KernelState {
  const k = withConnected(bareNode());
  return merge(k, {
    ...emptyState(),
    link: [link("ap0", "wifi", true, 9)],
    address: [addr("ap0", "100.64.50.1/24")],
  });
}

// No gray failures: carrier and probe rounds decide what is usable here.
const worldEvent = worldEventArb(UPLINKS, { answers: false, roundDt: 1200 });

describe("the hotspot in the daemon's step", () => {
  it("has our access point, server and NAT in the kernel exactly while its activation says up", () => {
    fc.assert(
      fc.property(
        fc.constantFrom("when-no-uplink", "always"),
        fc.array(worldEvent, { maxLength: 60 }),
        (mode, events) => {
          const sim = startSim(policyOf(POLICY(mode)), kernel(), T);
          fullPass(sim, "start");
          for (const e of events) {
            happen(sim, e);
            if (e.type === "periodic") fullPass(sim, "periodic");
          }
          for (const p of sim.passes) {
            if (p.result.outcome !== "applied" && p.result.outcome !== "no-change") continue;
            const up = p.state.hotspot?.activation.up;
            expect(up).toBeDefined();
            if (mode === "always") expect(up).toBe(true);
            expect(p.kernel.hostapd.length === 1).toBe(up);
            expect(p.kernel.dnsmasq.length === 1).toBe(up);
            expect(p.kernel["nft-table"].length === 1).toBe(up);
            // Lowered, the hotspot's address stays on its interface.
            expect(p.kernel.address.some((a) => a.dev === "ap0")).toBe(true);
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it("raises a when-no-uplink hotspot after every uplink is lost and its hold-down, and lowers it after fibre's return and its own", () => {
    const sim = startSim(policyOf(POLICY("when-no-uplink")), kernel(), T);
    fullPass(sim, "start");
    const rounds = (n: number) => {
      for (let i = 0; i < n; i++) for (const iface of UPLINKS) happen(sim, { dt: 250, type: "round", iface });
    };
    rounds(8);
    fullPass(sim, "settled");
    expect(sim.state.hotspot?.activation.up).toBe(false);
    expect(sim.kernel.hostapd).toEqual([]);
    happen(sim, { dt: 100, type: "carrier", iface: "eth0", up: false });
    happen(sim, { dt: 100, type: "carrier", iface: "wwan0", up: false });
    const gone = sim.now;
    expect(sim.state.hotspot?.activation.up).toBe(false);
    // The timer the daemon arms: the raise falls due 2 s after the last uplink went.
    expect(hotspotDue(sim.state)).toBe(gone + 2000);
    happen(sim, { dt: 1999, type: "periodic" });
    fullPass(sim, "periodic");
    expect(sim.state.hotspot?.activation.up).toBe(false);
    happen(sim, { dt: 1, type: "periodic" });
    fullPass(sim, "hotspot timer");
    expect(sim.state.hotspot?.activation).toMatchObject({ up: true, why: "no uplink usable for 2 s" });
    expect(sim.kernel.hostapd).toHaveLength(1);
    happen(sim, { dt: 100, type: "carrier", iface: "eth0", up: true });
    rounds(12);
    fullPass(sim, "periodic");
    expect(sim.state.hotspot?.activation).toMatchObject({ up: false, why: "fibre usable for 3 s" });
    expect(sim.kernel.hostapd).toEqual([]);
    expect(sim.kernel["nft-table"]).toEqual([]);
  });
});
