import { describe, expect, it } from "vitest";
import { pointersFor } from "../../../src/core/plan/explain.js";
import { layoutFor } from "../../../src/core/plan/desired.js";
import type { Change } from "../../../src/core/plan/document.js";
import type { KernelObject, NatFlows } from "../../../src/kinds/types.js";
import { dnsmasqOf } from "../../../src/kinds/services/dnsmasq.js";
import { hostapdOf } from "../../../src/kinds/services/hostapd.js";
import { policyOf } from "../../support/daemon-sim.js";
import { HOTSPOT_AP, HOTSPOT_SERVER, ROUTING, uplink } from "../../support/plan-fixtures.js";

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

describe("--explain of the hotspot's objects", () => {
  const policy = policyOf(`${POLICY}hotspot:\n  interface: ap0\n  ssid: edge\n  security: wpa2\n`);
  const layout = layoutFor([uplink("fibre", "ethernet", { iface: "eth0" })], ROUTING);
  const dir = "/var/lib/backhaul/hostapd/host";
  const ap = hostapdOf(dir, { ...HOTSPOT_AP, iface: "ap0", security: "wpa2", pmf: "disabled" });
  const change = (before: KernelObject | null, after: KernelObject | null): Change => ({
    actions: before === null ? ["create"] : after === null ? ["delete"] : ["update"],
    kind: (before ?? after)!.kind,
    key: "ap0",
    before,
    after,
    reason: "",
    disruption: "none",
    steps: [0],
  });

  it("names the setting whose value changed, for a restart and for a reload", () => {
    const renamed = hostapdOf(dir, {
      ...HOTSPOT_AP,
      iface: "ap0",
      ssid: "edge-2",
      security: "wpa2",
      pmf: "disabled",
    });
    expect(pointersFor(change(ap, renamed), layout, policy, [])).toEqual(["/hotspot/ssid"]);
    const secured = hostapdOf(dir, { ...HOTSPOT_AP, iface: "ap0", security: "wpa2-wpa3", pmf: "optional" });
    expect(pointersFor(change(ap, secured), layout, policy, [])).toEqual([
      "/hotspot/security",
      "/hotspot/pmf",
    ]);
    // New credentials for the generated passphrase: its rotation.
    expect(pointersFor(change({ ...ap, credentials: "stale" }, ap), layout, policy, [])).toEqual([
      "/hotspot/rotation",
    ]);
    const own = { ...ap, passphraseFile: "/etc/backhaul/psk" };
    expect(pointersFor(change({ ...own, credentials: "stale" }, own), layout, policy, [])).toEqual([
      "/hotspot/passphraseFile",
    ]);
  });

  it("points a start at the activation, the server at its DHCP settings, the address at the address", () => {
    expect(pointersFor(change(null, ap), layout, policy, [])).toEqual([
      "/hotspot/activate",
      "/hotspot/interface",
    ]);
    const server = dnsmasqOf("/var/lib/backhaul/dnsmasq/host", { ...HOTSPOT_SERVER, iface: "ap0" });
    expect(pointersFor(change(null, server), layout, policy, [])).toEqual([
      "/hotspot/activate",
      "/hotspot/dhcp",
      "/hotspot/address",
      "/hotspot/maxClients",
    ]);
    const address = {
      kind: "address" as const,
      family: 4 as const,
      dev: "ap0",
      local: "192.168.50.1/24",
      scope: "global" as const,
    };
    expect(pointersFor(change(null, address), layout, policy, [])).toEqual(["/hotspot/address"]);
  });
});
