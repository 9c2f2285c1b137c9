// Connection tracking after a switch: the flows the kernel source-NAT'ed out of an uplink (hotspot
// clients, forwarded traffic), one object per uplink address and original source. The kernel, not
// backhaul, creates them; backhaul only deletes those of uplinks that no longer carry general traffic,
// so their clients reconnect through the new uplink at once instead of sending into a dead NAT binding
// until a timeout. Read with `conntrack -L -o extended --src-nat`, deleted with lines of a `conntrack -R FILE` batch.
//
// An entry counts only when its source really was translated (original source differs from the reply's
// destination): the node's own sockets bound to an uplink's address pass masquerade unchanged but are
// listed with --src-nat all the same, and they are never touched.
import { RenderError, COMMON_PARTS, type Family, type KindDriver } from "../driver.js";
import { canonicalAddress } from "../ip/common.js";
import { parseAddresses } from "../ip/address.js";
import { ipSection, type RawObservation } from "../raw.js";
import type { KernelState } from "../types.js";

export interface NatFlows {
  readonly kind: "conntrack";
  readonly family: Family;
  /** The address the flows' source was translated to (the reply direction's destination). */
  readonly address: string;
  /** The original source of the flows (a hotspot client, a forwarded host). */
  readonly source: string;
  /** The interface that holds `address`: the uplink the flows leave by. */
  readonly iface: string;
  /** How many flows (observed; not part of the object's identity or equality). */
  readonly flows: number;
}

/** The listing observation reads: every family, with the family named on each line. */
export const CONNTRACK_LIST_ARGV = ["conntrack", "-L", "-o", "extended", "--src-nat"] as const;

/** Runs the delete lines in `file` as one batch. */
export const conntrackBatchArgv = (file: string): string[] => ["conntrack", "-R", file];

const FAMILY_NAMES = { ipv4: 4, ipv6: 6 } as const;

interface Translated {
  readonly family: Family;
  readonly source: string;
  readonly address: string;
}

/**
 * One line of `conntrack -L -o extended`: "ipv4 2 tcp 6 431999 ESTABLISHED src=A dst=B sport=.. dport=..
 * src=B dst=C ..."; the first src= is the original source, the second dst= the reply's destination.
 * Undefined for lines that are not entries, or whose source was not translated.
 */
export function parseConntrackLine(line: string): Translated | undefined {
  const words = line.trim().split(/\s+/);
  const family = FAMILY_NAMES[words[0] as keyof typeof FAMILY_NAMES] as Family | undefined;
  if (family === undefined) return undefined;
  const srcs: string[] = [];
  const dsts: string[] = [];
  for (const w of words) {
    if (w.startsWith("src=")) srcs.push(w.slice(4));
    else if (w.startsWith("dst=")) dsts.push(w.slice(4));
  }
  if (srcs.length < 2 || dsts.length < 2) return undefined;
  const source = canonicalAddress(srcs[0]!, family);
  const address = canonicalAddress(dsts[1]!, family);
  if (source === undefined || address === undefined || source === address) return undefined;
  return { family, source, address };
}

/** The translated flows by uplink address and source, each tied to the interface holding the address. */
export function parseNatFlows(out: string, raw: RawObservation): NatFlows[] {
  const holder = new Map<string, string>();
  for (const a of parseAddresses(ipSection(raw, "address")))
    holder.set(`${a.family} ${a.local.slice(0, a.local.indexOf("/"))}`, a.dev);
  const groups = new Map<string, { t: Translated; iface: string; flows: number }>();
  for (const line of out.split("\n")) {
    const t = parseConntrackLine(line);
    if (t === undefined) continue;
    // An address no interface holds is not an uplink's (and the kernel already forgot masquerade flows
    // whose address went away).
    const iface = holder.get(`${t.family} ${t.address}`);
    if (iface === undefined) continue;
    const k = `${t.family} ${t.address} ${t.source}`;
    const g = groups.get(k);
    if (g === undefined) groups.set(k, { t, iface, flows: 1 });
    else g.flows++;
  }
  return [...groups.values()].map(({ t, iface, flows }) => ({ kind: "conntrack", ...t, iface, flows }));
}

const FAMILY_FLAG = { 4: "ipv4", 6: "ipv6" } as const;

function checked(a: string, family: Family, what: string): string {
  const c = canonicalAddress(a, family);
  if (c === undefined)
    throw new RenderError(`conntrack: ${what} ${JSON.stringify(a)} is not an IPv${family} address`);
  return c;
}

const plural = (n: number): string => `${n} flow${n === 1 ? "" : "s"}`;

export const natFlows: KindDriver<NatFlows, KernelState> = {
  kind: "conntrack",
  key: (o) => `${o.family} ${o.address} ${o.source}`,
  // Only flows out of the policy's uplinks: NAT of anything else (a VPN, containers) is not ours.
  owned: (o, own) => own.uplinkInterfaces.includes(o.iface),
  sources: ["conntrack", "ip-address"],
  observe: (raw) => (raw.conntrack === undefined ? [] : parseNatFlows(raw.conntrack, raw)),
  // The same flows whatever their number: a count that moves is traffic, not a change to plan.
  equal: (a, b) =>
    a.family === b.family && a.address === b.address && a.source === b.source && a.iface === b.iface,
  inPlace: false,
  deletable: COMMON_PARTS.deletable,
  inverse: COMMON_PARTS.inverse,
  // Lowest: its deletes run last of all, once the new routes are in place and the old ones gone.
  rank: -1,
  command: {
    tool: "conntrack",
    render(op) {
      if (op.op !== "delete")
        throw new RenderError("flows the kernel tracks cannot be created or changed, only deleted");
      const o = op.before;
      const source = checked(o.source, o.family, "source");
      const address = checked(o.address, o.family, "address");
      // -s narrows it to this source: the node's own flows of the address stay.
      return [`-D -f ${FAMILY_FLAG[o.family]} --src-nat -s ${source} --reply-dst ${address}`];
    },
  },
  describe: (o) => `NAT flows from ${o.source} out of ${o.iface} as ${o.address} (${plural(o.flows)})`,
  // The flows are dead once their uplink stops carrying them: deleting them lets clients reconnect.
  disruption: () => "traffic-switch",
  affectsLookup: () => false,
  slot: (o) => `conntrack ${o.family} ${o.address} ${o.source}`,
  policyRef: (o) => ({ iface: o.iface, flows: true }),
  show: {
    place: 12,
    keep: () => true,
    sections: (fs) => [
      {
        title: "NAT flows",
        lines: fs.map((f) => `  ${f.iface} as ${f.address}: ${plural(f.flows)} from ${f.source}`),
      },
    ],
  },
  cleanup: "keep",
  transient: true,
};
