import { describe, expect, it } from "vitest";
import { pointersFor } from "../../../src/core/plan/explain.js";
import { layoutFor } from "../../../src/core/plan/desired.js";
import type { Change } from "../../../src/core/plan/document.js";
import type { NatFlows } from "../../../src/kinds/types.js";
import { policyOf } from "../../support/daemon-sim.js";
import { ROUTING, uplink } from "../../support/plan-fixtures.js";

const POLICY = `
uplinks:
  - {name: fibre, interface: eth0, kind: ethernet}
  - {name: lte, interface: wwan0, kind: lte}
probes:
  targets: [tcp://192.0.2.10:443]
`;

const flowsDelete = (iface: string): Change => {
  const before: NatFlows = {
    kind: "conntrack",
    family: 4,
    address: "100.64.1.2",
    source: "100.64.50.10",
    iface,
    flows: 1,
  };
  return {
    actions: ["delete"],
    kind: "conntrack",
    key: "4 100.64.1.2 100.64.50.10",
    before,
    after: null,
    reason: "",
    disruption: "traffic-switch",
    steps: [0],
  };
};

describe("--explain of tracked flows", () => {
  const policy = policyOf(POLICY);
  const layout = layoutFor(
    [uplink("fibre", "ethernet", { iface: "eth0" }), uplink("lte", "lte", { iface: "wwan0" })],
    ROUTING,
  );

  it("points a deleted uplink's flows at that uplink and at the selection that moved traffic off it", () => {
    expect(pointersFor(flowsDelete("wwan0"), layout, policy, ["fibre"])).toEqual([
      "/uplinks/1",
      "/selection/strategy",
    ]);
  });

  it("points flows of an interface no uplink names (a matched tether) at the selection", () => {
    expect(pointersFor(flowsDelete("usb0"), layout, policy, ["fibre"])).toEqual(["/selection/strategy"]);
  });
});
