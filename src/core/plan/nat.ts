// The hotspot's NAT: our own nftables table (`inet <routing.nftTable>`) with one postrouting nat chain
// that masquerades traffic from the hotspot subnet leaving by an uplink, plus IPv4 forwarding. The body
// is built in exactly the canonical form the observer produces (src/kinds/nft/parse.ts), so a table the
// kernel holds as planned compares equal and a second apply writes nothing.
import ipaddr from "ipaddr.js";
import type { NftTable, Sysctl } from "../../kinds/types.js";
import { NAT_CHAIN, validNftName } from "../../kinds/nft/table.js";

export { NAT_CHAIN, validNftName };
import { validInterfaceName } from "../../kinds/ip/common.js";
import { canonicalJson } from "../../util/canonical.js";

/** The policy's hotspot NAT, as the planner needs it. */
export interface NatParams {
  /** Name of our table in family inet (routing.nftTable). */
  readonly table: string;
  /** The hotspot's interface: never an out interface, even when also listed as an uplink. */
  readonly hotspotInterface: string;
  /** The node's hotspot address, CIDR ("100.64.50.1/24"): its subnet is what is masqueraded. */
  readonly address: string;
}

/** The srcnat priority nft gives `priority srcnat` in a postrouting chain. */
const SRCNAT_PRIORITY = 100;
export const IP_FORWARD = "net.ipv4.ip_forward";

export class NatError extends Error {
  override name = "NatError";
}

/** The network of an IPv4 CIDR ("100.64.50.1/24" → ["100.64.50.0", 24]); refuses anything else. */
export function ipv4Subnet(cidr: string): readonly [string, number] {
  let parsed: [ipaddr.IPv4 | ipaddr.IPv6, number];
  try {
    parsed = ipaddr.parseCIDR(cidr);
  } catch {
    throw new NatError(`hotspot address ${JSON.stringify(cidr)} is not a CIDR`);
  }
  const [addr, len] = parsed;
  if (addr.kind() !== "ipv4") throw new NatError(`hotspot address ${cidr} is not IPv4: NAT is IPv4 only`);
  // A /31 or /32 leaves no room for clients; /0 would masquerade everything.
  if (len < 1 || len > 30) throw new NatError(`hotspot address ${cidr}: prefix length must be 1-30`);
  return [ipaddr.IPv4.networkAddressFromCIDR(cidr).toString(), len];
}

/** One masquerade rule per out interface, in the kernel's JSON form (one rule each keeps order stable). */
function masqueradeRule(net: string, len: number, iface: string): unknown {
  return {
    expr: [
      {
        match: {
          op: "==",
          left: { payload: { protocol: "ip", field: "saddr" } },
          right: { prefix: { addr: net, len } },
        },
      },
      { match: { op: "==", left: { meta: { key: "oifname" } }, right: iface } },
      { masquerade: null },
    ],
  };
}

/**
 * The desired table: masquerade the hotspot subnet out of each uplink interface (in the order given,
 * duplicates and the hotspot's own interface left out).
 */
export function natTable(p: NatParams, uplinkInterfaces: readonly string[]): NftTable {
  if (!validNftName(p.table)) throw new NatError(`nft table name ${JSON.stringify(p.table)} is not valid`);
  const [net, len] = ipv4Subnet(p.address);
  const out: string[] = [];
  for (const i of uplinkInterfaces) {
    if (!validInterfaceName(i)) throw new NatError(`uplink interface ${JSON.stringify(i)} is not valid`);
    if (i !== p.hotspotInterface && !out.includes(i)) out.push(i);
  }
  const chain = {
    name: NAT_CHAIN,
    type: "nat",
    hook: "postrouting",
    prio: SRCNAT_PRIORITY,
    policy: "accept",
    rules: out.map((i) => masqueradeRule(net, len, i)),
  };
  return { kind: "nft-table", family: "inet", name: p.table, body: canonicalJson({ chain: [chain] }) };
}

export const ipForward: Sysctl = { kind: "sysctl", name: IP_FORWARD, value: "1" };
