// dnsmasq serving the hotspot's DHCP and DNS: observed through its pid file in our state directory.
import { invert, type KindDriver } from "../driver.js";
import type { KernelState } from "../types.js";
import { serviceParts } from "./common.js";

export interface Dnsmasq {
  readonly kind: "dnsmasq";
  readonly iface: string;
  readonly pid: number;
  readonly configHash: string;
}

export const dnsmasq: KindDriver<Dnsmasq, KernelState> = {
  kind: "dnsmasq",
  ...serviceParts<Dnsmasq>(10, ["service-pids"]),
  observe: (raw) => [...raw.daemons.dnsmasq],
  inverse: invert,
  describe: (o) => `dnsmasq on ${o.iface}`,
  show: {
    place: 8,
    keep: () => true,
    sections: (ds) => [{ title: "Services", lines: ds.map((d) => `  dnsmasq on ${d.iface}: pid ${d.pid}`) }],
  },
};
