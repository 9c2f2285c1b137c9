// The DHCP client of an uplink with `addressing: dhcp`: observed through its pid file in our state
// directory.
import { pidServiceDriver, type PidService } from "./common.js";

export type DhcpClient = PidService<"dhcp-client">;

export const dhcpClient = pidServiceDriver({
  kind: "dhcp-client",
  rank: 9,
  label: "DHCP client",
  showLabel: "dhcp client",
  place: 9,
  found: (raw) => raw.daemons.dhcp,
});
