// The DHCP client of an uplink with `addressing: dhcp`: observed through its pid file in our state
// directory.
import { invert, type KindDriver } from "../driver.js";
import type { KernelState } from "../types.js";
import { serviceParts } from "./common.js";

export interface DhcpClient {
  readonly kind: "dhcp-client";
  readonly iface: string;
  readonly pid: number;
  readonly configHash: string;
}

export const dhcpClient: KindDriver<DhcpClient, KernelState> = {
  kind: "dhcp-client",
  ...serviceParts<DhcpClient>(9, ["service-pids"]),
  observe: (raw) => [...raw.daemons.dhcp],
  inverse: invert,
  describe: (o) => `DHCP client on ${o.iface}`,
  show: {
    place: 9,
    keep: () => true,
    sections: (ds) => [
      { title: "Services", lines: ds.map((d) => `  dhcp client on ${d.iface}: pid ${d.pid}`) },
    ],
  },
};
