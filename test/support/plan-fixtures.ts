// Shared inputs for selection and planning tests: the reference scoring numbers and a small node.
import type { Address, KernelState, Link, LinkClass, Ownership, Route } from "../../src/kinds/types.js";
import { emptyState, KIND_NAMES, type KernelObject } from "../../src/kinds/types.js";
import { canonicalState } from "../../src/kinds/registry.js";
import type { Health, SelectionParams, UplinkSpec } from "../../src/core/selection/types.js";
import type { RoutingParams } from "../../src/core/plan/desired.js";
import type { PlanResult } from "../../src/core/plan/order.js";
import type { Op } from "../../src/kinds/types.js";
import { schemeSysctls } from "../../src/core/plan/desired.js";
import type { DnsmasqParams } from "../../src/kinds/services/dnsmasq.js";
import type { HostapdParams } from "../../src/kinds/services/hostapd.js";

/** The hotspot DHCP server of a /24 hotspot on wlan0 (100.64.50.1), as the planner builds it. */
export const HOTSPOT_SERVER: DnsmasqParams = {
  iface: "wlan0",
  router: "100.64.50.1",
  netmask: "255.255.255.0",
  start: "100.64.50.100",
  end: "100.64.50.200",
  leaseSeconds: 3600,
  maxClients: 16,
};

/** The access point of a WPA2/WPA3 hotspot on wlan0 whose passphrase backhaul generates. */
export const HOTSPOT_AP: HostapdParams = {
  iface: "wlan0",
  driver: "nl80211",
  ssid: "edge",
  channel: 6,
  security: "wpa2-wpa3",
  pmf: "optional",
  clientIsolation: true,
  maxClients: 16,
};

export const numRuns = Number(process.env.FC_NUM_RUNS ?? 1000);

export const PARAMS: SelectionParams = {
  strategy: "failover",
  weights: { latency: 300, loss: 200, success: 500 },
  maxRttMs: 200,
  maxLossPct: 10,
  classBias: { ethernet: 100, wifi: 80, lte: 60, "usb-tether": 40, "bt-pan": 40, other: 0 },
  biasMultiplier: 1,
  switchMargin: 50,
  failThreshold: 500,
  recoverThreshold: 600,
  whenNoneUsable: "keep-last",
};

export const PROTO = 99;
export const ROUTING: RoutingParams = {
  protocol: PROTO,
  tables: { min: 100, max: 199 },
  priorities: { min: 1000, max: 1099 },
};

export const T0 = Date.UTC(2026, 10, 23, 12, 3, 41);

export const up = (rttMs = 20, lossPct = 0, successRate = 1): Health => ({
  state: "up",
  since: T0,
  rttMs,
  lossPct,
  successRate,
});
export const down = (reason = "carrier lost"): Health => ({ state: "down", since: T0, reason });

export const uplink = (name: string, cls: LinkClass, over: Partial<UplinkSpec> = {}): UplinkSpec => ({
  name,
  iface: name,
  class: cls,
  use: "normal",
  gateway: "auto",
  metered: false,
  ...over,
});

export const UPLINKS: readonly UplinkSpec[] = [
  uplink("eth0", "ethernet"),
  uplink("wlan0", "wifi"),
  uplink("wwan0", "lte", { metered: true }),
];

export function ownership(uplinks: readonly UplinkSpec[] = UPLINKS): Ownership {
  return {
    protocol: PROTO,
    tables: ROUTING.tables,
    priorities: ROUTING.priorities,
    qosInterfaces: ["eth0"],
    nftTable: { family: "inet", name: "backhaul" },
    sysctls: schemeSysctls(uplinks),
    uplinkInterfaces: uplinks.map((u) => u.iface),
    addresses: [],
  };
}

export const link = (name: string, cls: LinkClass, carrier = true, index = 2): Link => ({
  kind: "link",
  name,
  index,
  linkClass: cls,
  adminUp: true,
  carrier,
  operState: carrier ? "up" : "lowerlayerdown",
  mtu: 1500,
});

export const addr = (dev: string, local: string, family: 4 | 6 = 4): Address => ({
  kind: "address",
  family,
  dev,
  local,
  scope: "global",
});

export const mainDefault = (dev: string, gateway: string, metric = 100, family: 4 | 6 = 4): Route => ({
  kind: "route",
  family,
  table: 254,
  type: "unicast",
  dst: family === 4 ? "0.0.0.0/0" : "::/0",
  metric,
  protocol: 16,
  scope: "global",
  gateway,
  dev,
});

/** Three uplinks with DHCP-installed defaults in main: eth0 198.51.100.0/24, wlan0 203.0.113.0/24, wwan0 100.64.0.0/24. */
export function node(over: { carrier?: Partial<Record<string, boolean>> } = {}): KernelState {
  const c = (n: string): boolean => over.carrier?.[n] ?? true;
  return canonicalState({
    ...emptyState(),
    link: [
      link("eth0", "ethernet", c("eth0"), 2),
      link("wlan0", "wifi", c("wlan0"), 3),
      link("wwan0", "lte", c("wwan0"), 4),
    ],
    address: [
      addr("eth0", "198.51.100.2/24"),
      addr("wlan0", "203.0.113.2/24"),
      addr("wwan0", "100.64.0.2/24"),
    ],
    route: [
      mainDefault("eth0", "198.51.100.1", 100),
      mainDefault("wlan0", "203.0.113.1", 600),
      mainDefault("wwan0", "100.64.0.1", 700),
    ],
  });
}

export function merge(a: KernelState, b: KernelState): KernelState {
  const out: Record<string, readonly KernelObject[]> = {};
  for (const k of KIND_NAMES) out[k] = [...a[k], ...b[k]];
  return canonicalState(out as unknown as KernelState);
}

/** The ops of a plan that must succeed. */
export function opsOf(r: PlanResult): readonly Op[] {
  if (!r.ok) throw new Error(r.error.message);
  return r.ops;
}
