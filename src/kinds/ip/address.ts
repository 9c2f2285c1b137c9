// Addresses: observed (the routing scheme attaches to them), written by labs, by the DHCP client's lease
// hook, and by the planner for the hotspot's own address (owned while the hotspot is raised).
import { parseInterfacePrefix, formatAddress } from "../../util/prefix.js";
import { RenderError, type Family, type KindDriver, COMMON_PARTS } from "../driver.js";
import { mapDefined, num, objects, str } from "../json.js";
import { ipSection } from "../raw.js";
import type { KernelState } from "../types.js";
import { canonicalPrefix, dev, ipLine, SCOPES } from "./common.js";
import { scopeName, type RouteScope } from "./names.js";

export interface Address {
  readonly kind: "address";
  readonly family: Family;
  readonly dev: string;
  /** "10.0.0.2/24" */
  readonly local: string;
  readonly scope: RouteScope;
  /** Point-to-point peer prefix ("10.64.64.65/32"), as on ppp links. */
  readonly peer?: string;
}

/** Addresses from `ip -j -d address show` (lifetimes, labels and flags dropped). */
export function parseAddresses(json: unknown): Address[] {
  return objects(json).flatMap((l) => {
    const dev = str(l, "ifname");
    if (dev === undefined) return [];
    return mapDefined(objects(l["addr_info"]), (a) => {
      const fam = str(a, "family");
      const family: Family | undefined = fam === "inet" ? 4 : fam === "inet6" ? 6 : undefined;
      const local = str(a, "local");
      const len = num(a, "prefixlen");
      const scope = scopeName(a["scope"]);
      if (family === undefined || local === undefined || len === undefined || scope === undefined) return;
      // With a peer, prefixlen belongs to the peer and the local address is a host address.
      const peerAddr = str(a, "address");
      const peer = peerAddr === undefined ? undefined : canonicalPrefix(peerAddr, len, family);
      const prefix = canonicalPrefix(local, peerAddr === undefined ? len : undefined, family);
      if (prefix === undefined || (peerAddr !== undefined && peer === undefined)) return;
      const address: Address = {
        kind: "address",
        family,
        dev,
        local: prefix,
        scope,
        ...(peer !== undefined ? { peer } : {}),
      };
      return address;
    });
  });
}

function addressSpec(a: Address): string[] {
  let p;
  try {
    p = parseInterfacePrefix(a.local);
  } catch (e) {
    throw new RenderError((e as Error).message);
  }
  if (p.family !== a.family) throw new RenderError(`${a.local} is not an IPv${a.family} address`);
  if (!SCOPES.includes(a.scope)) throw new RenderError(`invalid scope ${JSON.stringify(a.scope)}`);
  return [
    `${formatAddress(p.family, p.net)}/${p.len}`,
    "dev",
    dev(a.dev),
    ...(a.scope !== "global" ? ["scope", a.scope] : []),
  ];
}

const isLinkLocal = (a: Address): boolean => a.family === 6 && a.scope === "link";

export const address: KindDriver<Address, KernelState> = {
  kind: "address",
  ...COMMON_PARTS,
  key: (o) => `${o.dev} ${o.local}`,
  // Only the addresses the policy gives an interface (the hotspot's) while it does; every other is the
  // system's. Once the policy stops naming it, it is not ours and stays: it may have been the operator's.
  owned: (o, own) => own.addresses.includes(`${o.dev} ${o.local}`),
  sources: ["ip-address"],
  observe: (raw) => parseAddresses(ipSection(raw, "address")),
  inPlace: false,
  rank: 1,
  command: {
    tool: "ip",
    render(op) {
      const a = op.op === "delete" ? op.before : op.after;
      // IPv6 addresses skip duplicate address detection (labs; the hotspot's is IPv4).
      const nodad = a.family === 6 && op.op !== "delete" ? ["nodad"] : [];
      const verb = op.op === "add" ? "add" : op.op === "delete" ? "del" : "replace";
      return [ipLine(a.family, ["address", verb, ...addressSpec(a), ...nodad])];
    },
  },
  describe: (o) => `${o.local} dev ${o.dev} scope ${o.scope}`,
  disruption: (op) => (op.op === "add" ? "none" : "flap"),
  affectsLookup: () => true,
  slot: (o) => `address ${o.dev} ${o.local}`,
  policyRef: (o) => ({ iface: o.dev }),
  show: {
    place: 1,
    keep: (o, ctx) => ctx.links.has(o.dev) && !isLinkLocal(o),
    // Shown with their links.
    sections: () => [],
  },
  cleanup: "keep",
};
