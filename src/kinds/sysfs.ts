// Facts about interfaces (driver, wireless) and the sysctls we care about, read with ONE process.
// /sys and /proc/sys/net show the network namespace of the reading process (and /sys only after
// `ip netns exec` remounted it), so the read runs inside the observed namespace: one `find` that
// follows the /sys/class/net symlinks, prints wireless markers, and hands the device uevent files
// (DRIVER=...) and the sysctl files to a single grep.
import { sysctlNameOfPath } from "./sysctl/names.js";
import { join } from "node:path";
import type { Sysctl } from "./types.js";
import type { LinkFacts } from "./link-class.js";

export const NET = "/sys/class/net";
const CONF4 = "/proc/sys/net/ipv4";
const CONF6 = "/proc/sys/net/ipv6";

/** Per-interface (and "all"/"default") sysctl leaves we observe, by family directory. */
export const CONF_LEAVES: readonly (readonly [string, string])[] = [
  ["ipv4", "rp_filter"],
  ["ipv4", "ignore_routes_with_linkdown"],
  ["ipv6", "ignore_routes_with_linkdown"],
];
export const GLOBAL_SYSCTLS = ["/proc/sys/net/ipv4/ip_forward", "/proc/sys/net/ipv6/conf/all/forwarding"];

/**
 * The argv of the reading process. `root` prefixes every path: "" on a live system, a fixture
 * directory in tests (same command, same parser).
 */
export function factsCommand(root = ""): string[] {
  const r = (p: string): string => (root === "" ? p : join(root, p));
  const sysctlPaths = [
    ...GLOBAL_SYSCTLS.map((p) => ["-path", r(p)]),
    ...CONF_LEAVES.map(([fam, leaf]) => ["-path", r(`/proc/sys/net/${fam}/conf/*/${leaf}`)]),
  ].flatMap((x, i) => (i === 0 ? x : ["-o", ...x]));
  return [
    "find",
    "-L",
    r(NET),
    r(CONF4),
    r(CONF6),
    "-maxdepth",
    "3",
    "(",
    "(",
    "-path",
    r(`${NET}/*/phy80211`),
    "-o",
    "-path",
    r(`${NET}/*/wireless`),
    ")",
    "-printf",
    "wireless\\t%p\\n",
    "-prune",
    ")",
    "-o",
    "(",
    "-type",
    "f",
    "(",
    "-path",
    r(`${NET}/*/device/uevent`),
    "-o",
    ...sysctlPaths,
    ")",
    "-exec",
    "grep",
    "-H",
    "",
    "{}",
    "+",
    ")",
  ];
}

export interface Facts {
  readonly links: ReadonlyMap<string, LinkFacts>;
  readonly sysctls: readonly Sysctl[];
}

/** Parse the reading process's output (lines in any order; unknown lines ignored). */
export function parseFacts(out: string, root = ""): Facts {
  const strip = (p: string): string | undefined =>
    root === "" ? p : p.startsWith(root) ? p.slice(root.length) : undefined;
  const links = new Map<string, { wireless: boolean; driver?: string }>();
  const link = (name: string): { wireless: boolean; driver?: string } => {
    let l = links.get(name);
    if (l === undefined) links.set(name, (l = { wireless: false }));
    return l;
  };
  const sysctls: Sysctl[] = [];
  const netPath = /^\/sys\/class\/net\/([^/]+)\/(.*)$/;
  for (const line of out.split("\n")) {
    const tab = line.indexOf("\t");
    if (tab > 0) {
      const what = line.slice(0, tab);
      const p = strip(line.slice(tab + 1));
      const m = p === undefined ? null : netPath.exec(p);
      if (m === null || m[1] === undefined) continue;
      if (what === "wireless") link(m[1]).wireless = true;
      continue;
    }
    // grep -H output: "PATH:CONTENT"; sysfs and procfs paths hold no colon.
    const colon = line.indexOf(":");
    if (colon < 0) continue;
    const p = strip(line.slice(0, colon));
    const value = line.slice(colon + 1).trim();
    if (p === undefined) continue;
    const m = netPath.exec(p);
    if (m !== null && m[1] !== undefined && m[2] === "device/uevent") {
      if (value.startsWith("DRIVER=") && value.length > 7) link(m[1]).driver = value.slice(7);
      continue;
    }
    if (p.startsWith("/proc/sys/")) {
      sysctls.push({ kind: "sysctl", name: sysctlNameOfPath(p), value });
    }
  }
  const facts = new Map<string, LinkFacts>();
  for (const [name, l] of links) facts.set(name, { name, ...l });
  return { links: facts, sysctls };
}
