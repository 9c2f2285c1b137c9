// observe(): the kernel state of one network namespace in the normalized model, read with a handful
// of processes that run in parallel:
//   ip -N -j -d -batch -      address show / rule show (IPv4) / route show table all (both families)
//   ip -6 -N -j -d rule show  IPv6 rules (`ip rule` takes its family from the command line only)
//   find ...                  sysfs link facts and sysctls (see sysfs.ts)
//   tc -j -d qdisc show       then, only for devices with a configured tree, one tc batch for classes
//                             and filters
//   nft -j list ruleset       every table: ours, and foreign ones drift judges
//   hostapd_cli               per hostapd control socket under the state directory
//   conntrack -L --src-nat    the flows the kernel source-NAT'ed (read when the tool is there: without
//                             it, or without connection tracking, no flows are seen and none flushed)
// Reading (readKernel) and parsing (parseObservation, pure: each kind's driver parses its readings) are
// separate so benchmarks can time each; the daemon's cache (observe-cache.ts) reads through the same
// readers, one source at a time.
import { scopeOf } from "../kinds/services/dhcp-client.js";
import { currentNetns } from "./netns.js";
import type { RawSource } from "../kinds/driver.js";
import { firstJson, IP_COMMANDS, type IpSection, type RawObservation } from "../kinds/raw.js";
import { canonicalState, driver, DRIVERS, emptyState, KIND_NAMES } from "../kinds/registry.js";
import { HOSTAPD_CLI_INPUT } from "../kinds/services/hostapd.js";
import { CONNTRACK_LIST_ARGV } from "../kinds/conntrack/nat-flows.js";
import { factsCommand } from "../kinds/sysfs.js";
import { parseQdiscs, treeBatch, treeCommands } from "../kinds/tc/parse.js";
import type { KernelState, KindName } from "../kinds/types.js";
import { CommandError, run } from "./exec.js";
import { hostapdDir, hostapdPaths } from "../kinds/services/hostapd.js";
import { DEFAULT_STATE_DIR, observeDaemons } from "./services.js";

export type { RawObservation } from "../kinds/raw.js";

export interface ObserveOptions {
  /** Observe this network namespace (every command runs inside it). */
  readonly netns?: string;
  /** Where backhaul keeps pid, config and control files of the services it runs. */
  readonly stateDir?: string;
  /** Only these kinds (default: all); the others are empty lists. */
  readonly kinds?: readonly KindName[];
}

/** The readings the wanted kinds' drivers parse. */
function sourcesOf(kinds: readonly KindName[]): Set<RawSource> {
  return new Set(kinds.flatMap((k) => DRIVERS[k].sources));
}

/** The ip batch's sections (`ip -N -j -d -batch -`), in one process. */
function readIp(sections: readonly IpSection[], netns?: string): Promise<NonNullable<RawObservation["ip"]>> {
  return run(["ip", "-N", "-j", "-d", "-batch", "-"], {
    netns,
    input: sections.map((s) => `${IP_COMMANDS[s]}\n`).join(""),
  }).then((r) => ({ out: r.stdout, sections }));
}

const RULES6_ARGV = ["ip", "-6", "-N", "-j", "-d", "rule", "show"] as const;

// find exits non-zero on the symlink loops sysfs is full of; its output is still complete.
export function readFacts(netns?: string): Promise<string> {
  return run(factsCommand(), { netns, allowFailure: true }).then((r) => r.stdout);
}

/** Qdiscs, and (with `tree`) the classes and filters of the devices that have a configured tree. */
export function readTc(
  netns: string | undefined,
  tree: boolean,
): Promise<{ qdiscs: string; tree?: NonNullable<RawObservation["tree"]> }> {
  return run(["tc", "-j", "-d", "qdisc", "show"], { netns }).then(async (r) => {
    const cmds = tree ? treeCommands(parseQdiscs(firstJson(r.stdout))) : [];
    if (cmds.length === 0) return { qdiscs: r.stdout };
    const out = (await run(["tc", "-j", "-batch", "-"], { netns, input: treeBatch(cmds) })).stdout;
    return { qdiscs: r.stdout, tree: { out, cmds } };
  });
}

export function readNft(netns?: string): Promise<string> {
  return run(["nft", "-j", "list", "ruleset"], { netns, allowFailure: true }).then((r) => {
    if (r.exitCode === 0) return r.stdout;
    throw new Error(`nft -j list ruleset: ${r.stderr.trim()}`);
  });
}

/**
 * Only a live hostapd of ours is asked (hostapd_cli waits on a dead one's socket), briefly; no answer
 * is a hostapd that does not serve.
 */
export function readHostapd(
  daemons: RawObservation["daemons"],
  stateDir: string,
  netns: string | undefined,
): Promise<RawObservation["hostapd"]> {
  const scope = scopeOf(netns ?? currentNetns());
  return Promise.all(
    daemons.hostapd.map(async ({ iface }) => {
      const ctrl = hostapdPaths(hostapdDir(stateDir, scope), iface).ctrlDir;
      const out = await run(["hostapd_cli", "-p", ctrl, "-i", iface], {
        netns,
        input: HOSTAPD_CLI_INPUT,
        allowFailure: true,
        timeoutMs: 3000,
      })
        .then((r) => r.stdout)
        .catch((e: unknown) => {
          if (e instanceof CommandError && e.exitCode === undefined && /timed out/.test(e.message)) return "";
          throw e;
        });
      return { iface, out };
    }),
  );
}

/** The source-NAT'ed flows; undefined without the tool or connection tracking. */
export function readConntrack(netns?: string): Promise<string | undefined> {
  return run([...CONNTRACK_LIST_ARGV], { netns, allowFailure: true }).then(
    (r) => (r.exitCode === 0 ? r.stdout : undefined),
    (e: unknown) => {
      if (e instanceof CommandError) return undefined;
      throw e;
    },
  );
}

/** The pid files of our services (no process: the state directory and /proc). */
export function readDaemons(stateDir: string, netns: string | undefined): RawObservation["daemons"] {
  return observeDaemons(stateDir, scopeOf(netns ?? currentNetns()));
}

export async function readKernel(opts: ObserveOptions = {}): Promise<RawObservation> {
  const want = sourcesOf(opts.kinds ?? KIND_NAMES);
  const netns = opts.netns;
  const stateDir = opts.stateDir ?? DEFAULT_STATE_DIR;
  const sections: IpSection[] = [
    ...(want.has("ip-address") ? (["address"] as const) : []),
    ...(want.has("ip-rule") ? (["rule"] as const) : []),
    ...(want.has("ip-route") ? (["route"] as const) : []),
  ];
  const daemons = want.has("service-pids")
    ? readDaemons(stateDir, netns)
    : { dnsmasq: [], dhcp: [], hostapd: [] };
  const [ipR, rules6R, factsR, tcR, nftR, hostapdR, conntrackR] = await Promise.all([
    sections.length === 0 ? undefined : readIp(sections, netns),
    want.has("ip-rule") ? run(RULES6_ARGV, { netns }).then((r) => r.stdout) : undefined,
    want.has("sysfs") ? readFacts(netns) : undefined,
    want.has("tc") ? readTc(netns, want.has("tc-tree")) : undefined,
    want.has("nft") ? readNft(netns) : undefined,
    want.has("hostapd-ctrl") ? readHostapd(daemons, stateDir, netns) : Promise.resolve([]),
    want.has("conntrack") ? readConntrack(netns) : undefined,
  ]);
  return {
    ...(ipR !== undefined ? { ip: ipR } : {}),
    ...(rules6R !== undefined ? { rules6: rules6R } : {}),
    ...(factsR !== undefined ? { facts: factsR } : {}),
    ...(tcR !== undefined ? { qdiscs: tcR.qdiscs } : {}),
    ...(tcR?.tree !== undefined ? { tree: tcR.tree } : {}),
    ...(nftR !== undefined ? { nft: nftR } : {}),
    hostapd: hostapdR,
    ...(conntrackR !== undefined ? { conntrack: conntrackR } : {}),
    daemons,
  };
}

/** Pure: raw outputs to the canonical state (every kind sorted by its key), each kind parsed by its driver. */
export function parseObservation(raw: RawObservation, opts: Pick<ObserveOptions, "kinds"> = {}): KernelState {
  const state: Record<string, unknown> = { ...emptyState() };
  for (const k of opts.kinds ?? KIND_NAMES) state[k] = driver(k).observe(raw);
  return canonicalState(state as unknown as KernelState);
}

/** Observe the kernel (optionally another namespace) in the normalized, canonical model. */
export async function observe(opts: ObserveOptions = {}): Promise<KernelState> {
  return parseObservation(await readKernel(opts), opts);
}
