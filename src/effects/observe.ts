// observe(): the kernel state of one network namespace in the normalized model, read with a handful
// of processes that run in parallel:
//   ip -N -j -d -batch -      address show / rule show (IPv4) / route show table all (both families)
//   ip -6 -N -j -d rule show  IPv6 rules (`ip rule` takes its family from the command line only)
//   find ...                  sysfs link facts and sysctls (see sysfs.ts)
//   tc -j -d qdisc show       then, only for devices with a configured tree, one tc batch for classes
//                             and filters
//   nft -j list table ...     our table
//   hostapd_cli               per hostapd control socket under the state directory
// Reading (read) and normalizing (normalize, pure) are separate so benchmarks can time each.
import { canonicalState } from "../kinds/registry.js";
import { emptyState, KIND_NAMES, type KernelState, type KindName, type Hostapd } from "../kinds/types.js";
import { CommandError, run } from "./exec.js";
import { parseAddresses, parseLinks, parseRoutes, parseRules } from "../kinds/ip/parse.js";
import { jsonSegments, splitBatchOutput } from "../kinds/json.js";
import { parseNftTable } from "../kinds/nft/parse.js";
import {
  configHash,
  DEFAULT_STATE_DIR,
  HOSTAPD_CLI_INPUT,
  hostapdSockets,
  livePid,
  observeDaemons,
  parseHostapd,
  servicePaths,
} from "./services.js";
import { factsCommand, parseFacts } from "../kinds/sysfs.js";
import {
  numberDuplicateMatches,
  parseQdiscs,
  parseTree,
  treeBatch,
  treeCommands,
  type TreeCommand,
} from "../kinds/tc/parse.js";

export interface ObserveOptions {
  /** Observe this network namespace (every command runs inside it). */
  readonly netns?: string;
  /** Where backhaul keeps pid, config and control files of the services it runs. */
  readonly stateDir?: string;
  /** Only these kinds (default: all); the others are empty lists. */
  readonly kinds?: readonly KindName[];
  /** Our nftables table (default inet backhaul). */
  readonly nftTable?: { readonly family: string; readonly name: string };
}

export const DEFAULT_NFT_TABLE = { family: "inet", name: "backhaul" } as const;

/** Raw outputs of one observation: everything normalize() needs, nothing else. */
export interface RawObservation {
  /** Output of the ip batch and which of its sections it holds. */
  readonly ip?: { readonly out: string; readonly sections: readonly IpSection[] };
  readonly rules6?: string;
  readonly facts?: string;
  readonly qdiscs?: string;
  readonly tree?: { readonly out: string; readonly cmds: readonly TreeCommand[] };
  /** nft output, or undefined when the table does not exist. */
  readonly nft?: string;
  readonly hostapd: readonly { readonly iface: string; readonly out: string; readonly configHash: string }[];
  readonly daemons: ReturnType<typeof observeDaemons>;
}

type IpSection = "address" | "rule" | "route";

const IP_COMMANDS: Readonly<Record<IpSection, string>> = {
  address: "address show",
  rule: "rule show",
  route: "route show table all",
};

export async function readKernel(opts: ObserveOptions = {}): Promise<RawObservation> {
  const want = new Set<KindName>(opts.kinds ?? KIND_NAMES);
  const netns = opts.netns;
  const stateDir = opts.stateDir ?? DEFAULT_STATE_DIR;
  const nftTable = opts.nftTable ?? DEFAULT_NFT_TABLE;
  const sections: IpSection[] = [
    ...(want.has("link") || want.has("address") ? (["address"] as const) : []),
    ...(want.has("rule") ? (["rule"] as const) : []),
    ...(want.has("route") ? (["route"] as const) : []),
  ];
  const tcWanted = want.has("qdisc") || want.has("class") || want.has("filter");

  const ip =
    sections.length === 0
      ? undefined
      : run(["ip", "-N", "-j", "-d", "-batch", "-"], {
          netns,
          input: sections.map((s) => `${IP_COMMANDS[s]}\n`).join(""),
        }).then((r) => ({ out: r.stdout, sections }));
  const rules6 = want.has("rule")
    ? run(["ip", "-6", "-N", "-j", "-d", "rule", "show"], { netns }).then((r) => r.stdout)
    : undefined;
  // find exits non-zero on the symlink loops sysfs is full of; its output is still complete.
  const facts =
    want.has("link") || want.has("sysctl")
      ? run(factsCommand(), { netns, allowFailure: true }).then((r) => r.stdout)
      : undefined;
  const qdiscsAndTree = tcWanted
    ? run(["tc", "-j", "-d", "qdisc", "show"], { netns }).then(async (r) => {
        const cmds =
          want.has("class") || want.has("filter")
            ? treeCommands(parseQdiscs(jsonSegments(splitBatchOutput(r.stdout))[0]))
            : [];
        const tree =
          cmds.length === 0
            ? undefined
            : {
                out: (await run(["tc", "-j", "-batch", "-"], { netns, input: treeBatch(cmds) })).stdout,
                cmds,
              };
        return { qdiscs: r.stdout, tree };
      })
    : undefined;
  const nft = want.has("nft-table")
    ? run(["nft", "-j", "list", "table", nftTable.family, nftTable.name], { netns, allowFailure: true }).then(
        (r) => {
          if (r.exitCode === 0) return r.stdout;
          if (/No such file or directory/.test(r.stderr)) return undefined;
          throw new Error(`nft -j list table ${nftTable.family} ${nftTable.name}: ${r.stderr.trim()}`);
        },
      )
    : undefined;
  // hostapd_cli waits for a dead hostapd's stale socket forever: ask only a live hostapd, briefly,
  // and take no answer as no hostapd.
  const hostapd = want.has("hostapd")
    ? Promise.all(
        hostapdSockets(stateDir)
          .filter((iface) => livePid(stateDir, "hostapd", iface) !== undefined)
          .map(async (iface) => {
            const argv = ["hostapd_cli", "-p", servicePaths(stateDir, "hostapd", iface).ctrlDir, "-i", iface];
            const out = await run(argv, {
              netns,
              input: HOSTAPD_CLI_INPUT,
              allowFailure: true,
              timeoutMs: 3000,
            })
              .then((r) => r.stdout)
              .catch((e: unknown) => {
                if (e instanceof CommandError && e.exitCode === undefined && /timed out/.test(e.message))
                  return "";
                throw e;
              });
            return { iface, out, configHash: configHash(stateDir, "hostapd", iface) };
          }),
      )
    : Promise.resolve([]);
  const daemons =
    want.has("dnsmasq") || want.has("dhcp-client") ? observeDaemons(stateDir) : { dnsmasq: [], dhcp: [] };

  const [ipR, rules6R, factsR, tcR, nftR, hostapdR] = await Promise.all([
    ip,
    rules6,
    facts,
    qdiscsAndTree,
    nft,
    hostapd,
  ]);
  return {
    ...(ipR !== undefined ? { ip: ipR } : {}),
    ...(rules6R !== undefined ? { rules6: rules6R } : {}),
    ...(factsR !== undefined ? { facts: factsR } : {}),
    ...(tcR !== undefined ? { qdiscs: tcR.qdiscs } : {}),
    ...(tcR?.tree !== undefined ? { tree: tcR.tree } : {}),
    ...(nftR !== undefined ? { nft: nftR } : {}),
    hostapd: hostapdR,
    daemons: {
      dnsmasq: want.has("dnsmasq") ? daemons.dnsmasq : [],
      dhcp: want.has("dhcp-client") ? daemons.dhcp : [],
    },
  };
}

/** Pure: raw outputs to the canonical state (every kind sorted by its key). */
export function normalize(
  raw: RawObservation,
  opts: Pick<ObserveOptions, "kinds" | "nftTable"> = {},
): KernelState {
  const want = new Set<KindName>(opts.kinds ?? KIND_NAMES);
  const nftTable = opts.nftTable ?? DEFAULT_NFT_TABLE;
  const state = { ...emptyState() } as { -readonly [K in keyof KernelState]: KernelState[K] };
  const facts = raw.facts !== undefined ? parseFacts(raw.facts) : { links: new Map(), sysctls: [] };
  if (raw.ip !== undefined) {
    const arrays = jsonSegments(splitBatchOutput(raw.ip.out));
    const section = (s: IpSection): unknown => {
      const i = raw.ip?.sections.indexOf(s) ?? -1;
      return i < 0 ? undefined : arrays[i];
    };
    if (want.has("link")) state.link = parseLinks(section("address"), facts.links);
    if (want.has("address")) state.address = parseAddresses(section("address"));
    if (want.has("rule")) state.rule = parseRules(section("rule"), 4);
    if (want.has("route")) state.route = parseRoutes(section("route"));
  }
  if (want.has("rule") && raw.rules6 !== undefined) {
    state.rule = [...state.rule, ...parseRules(jsonSegments(splitBatchOutput(raw.rules6))[0], 6)];
  }
  if (want.has("sysctl")) state.sysctl = [...facts.sysctls];
  if (raw.qdiscs !== undefined && want.has("qdisc")) {
    state.qdisc = parseQdiscs(jsonSegments(splitBatchOutput(raw.qdiscs))[0]);
  }
  if (raw.tree !== undefined) {
    const { classes, filters } = parseTree(
      splitBatchOutput(numberDuplicateMatches(raw.tree.out)),
      raw.tree.cmds,
    );
    if (want.has("class")) state.class = classes;
    if (want.has("filter")) state.filter = filters;
  }
  if (raw.nft !== undefined && want.has("nft-table")) {
    const t = parseNftTable(jsonSegments(splitBatchOutput(raw.nft))[0], nftTable.family, nftTable.name);
    if (t !== undefined) state["nft-table"] = [t];
  }
  state.hostapd = raw.hostapd.flatMap((h): Hostapd[] => {
    const o = parseHostapd(h.out, h.iface, h.configHash);
    return o === undefined ? [] : [o];
  });
  state.dnsmasq = raw.daemons.dnsmasq;
  state["dhcp-client"] = raw.daemons.dhcp;
  return canonicalState(state);
}

/** Observe the kernel (optionally another namespace) in the normalized, canonical model. */
export async function observe(opts: ObserveOptions = {}): Promise<KernelState> {
  return normalize(await readKernel(opts), opts);
}

export { parseAddresses, parseLinks, parseRoutes, parseRules } from "../kinds/ip/parse.js";
export { parseQdiscs, parseTree, parseClassLine, parseFilters } from "../kinds/tc/parse.js";
export { parseNftTable } from "../kinds/nft/parse.js";
export { parseFacts, factsCommand } from "../kinds/sysfs.js";
export { classifyLink, type LinkFacts } from "../kinds/link-class.js";
export { decodeU32 } from "../kinds/tc/u32.js";
export { parseHostapd } from "./services.js";
