// dnsmasq serving the hotspot's DHCP and DNS: observed through its pid file in our state directory.
import { pidServiceDriver, type PidService } from "./common.js";

export type Dnsmasq = PidService<"dnsmasq">;

export const dnsmasq = pidServiceDriver({
  kind: "dnsmasq",
  rank: 12,
  label: "dnsmasq",
  showLabel: "dnsmasq",
  place: 8,
  found: (raw) => raw.daemons.dnsmasq,
});
