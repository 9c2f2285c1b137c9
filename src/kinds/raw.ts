// The raw readings of one observation: what the reader (effects/observe.ts) got from ip, tc, nft,
// sysfs and the state directory, unparsed. Drivers parse the parts they name (KindDriver.sources);
// splitting a batch's output into its sections is shared and done once per observation.
import { jsonSegments, splitBatchOutput } from "./json.js";
import type { DhcpClient } from "./services/dhcp-client.js";
import type { Dnsmasq } from "./services/dnsmasq.js";
import type { Hostapd } from "./services/hostapd.js";
import { parseFacts, type Facts } from "./sysfs.js";
import type { TreeCommand } from "./tc/parse.js";

export type IpSection = "address" | "rule" | "route";

/** The `ip -N -j -d -batch -` command of each section. */
export const IP_COMMANDS: Readonly<Record<IpSection, string>> = {
  address: "address show",
  rule: "rule show",
  route: "route show table all",
};

export interface RawObservation {
  /** Output of the ip batch and which of its sections it holds. */
  readonly ip?: { readonly out: string; readonly sections: readonly IpSection[] };
  /** `ip -6 -N -j -d rule show` (ip takes a rule's family from the command line only). */
  readonly rules6?: string;
  /** The sysfs and /proc/sys reading (see sysfs.ts). */
  readonly facts?: string;
  readonly qdiscs?: string;
  readonly tree?: { readonly out: string; readonly cmds: readonly TreeCommand[] };
  /** nft output, or undefined when the table does not exist. */
  readonly nft?: string;
  /** hostapd_cli's answers to `status`, per access point of ours. */
  readonly hostapd: readonly { readonly iface: string; readonly out: string }[];
  /** `conntrack -L -o extended --src-nat`; undefined when it was not read or could not be. */
  readonly conntrack?: string;
  /** The processes of ours found through their pid files. */
  readonly daemons: {
    readonly dnsmasq: readonly Dnsmasq[];
    readonly dhcp: readonly DhcpClient[];
    /** Found through their files; state and stations come from `hostapd` (the control sockets). */
    readonly hostapd: readonly Hostapd[];
  };
}

const ipCache = new WeakMap<RawObservation, unknown[]>();
const factsCache = new WeakMap<RawObservation, Facts>();

/** The parsed JSON of one section of the ip batch, undefined when it was not read. */
export function ipSection(raw: RawObservation, s: IpSection): unknown {
  if (raw.ip === undefined) return undefined;
  let arrays = ipCache.get(raw);
  if (arrays === undefined) ipCache.set(raw, (arrays = jsonSegments(splitBatchOutput(raw.ip.out))));
  const i = raw.ip.sections.indexOf(s);
  return i < 0 ? undefined : arrays[i];
}

/** The first JSON document of a reading, undefined when it was not read. */
export function firstJson(out: string | undefined): unknown {
  return out === undefined ? undefined : jsonSegments(splitBatchOutput(out))[0];
}

/** The sysfs facts (link facts and sysctls), parsed once. */
export function factsOf(raw: RawObservation): Facts {
  if (raw.facts === undefined) return { links: new Map(), sysctls: [] };
  let f = factsCache.get(raw);
  if (f === undefined) factsCache.set(raw, (f = parseFacts(raw.facts)));
  return f;
}
