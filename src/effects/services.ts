// The processes backhaul starts (hostapd, dnsmasq, a DHCP client), found only through the files it
// keeps for them under its state directory, so whatever is seen here is ours:
//   STATE/hostapd/IFACE.conf, STATE/hostapd/IFACE.pid, STATE/hostapd/ctrl/IFACE (control socket)
//   STATE/dnsmasq/NETNS/IFACE.pid, .leases, .log (our hotspot DHCP server; kinds/services/dnsmasq.ts)
//   STATE/dhcp/NETNS/IFACE.pid, .lease, .log, hook.mjs (our udhcpc and its hook; kinds/services/dhcp-client.ts)
import { readdirSync, readFileSync, statSync } from "node:fs";
import { basename, join } from "node:path";
import type { DhcpClient, Dnsmasq } from "../kinds/types.js";
import { dhcpDir, dhcpPaths, dirOfArgv, parseLease } from "../kinds/services/dhcp-client.js";
import { dnsmasqDir, dnsmasqPaths, paramsOfArgv, parseHotspotLeases } from "../kinds/services/dnsmasq.js";
import { readRegularFile } from "../policy/read-file.js";
import { processArgv, readPidFile } from "./proc.js";
import { sha256 } from "../util/canonical.js";

export const DEFAULT_STATE_DIR = "/var/lib/backhaul";

type PidService = "hostapd";

export const servicePaths = (stateDir: string, service: PidService, iface: string) => ({
  config: join(stateDir, service, `${iface}.conf`),
  pid: join(stateDir, service, `${iface}.pid`),
  ctrlDir: join(stateDir, service, "ctrl"),
});

/** The program names a live process of each service may have (its comm). */
const PROGRAMS: Readonly<Record<PidService, readonly string[]>> = {
  hostapd: ["hostapd"],
};

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
}

/** Interfaces that have a pid file (IFACE.pid) in `dir`. */
function pidFileInterfaces(dir: string): string[] {
  try {
    return readdirSync(dir)
      .filter((f) => f.endsWith(".pid"))
      .map((f) => f.slice(0, -4))
      .sort();
  } catch {
    return [];
  }
}

/** Interfaces that have a pid file for the service. */
export function serviceInterfaces(stateDir: string, service: PidService): string[] {
  return pidFileInterfaces(join(stateDir, service));
}

/** The pid in the service's pid file when that process is alive and is the service's program. */
export function livePid(stateDir: string, service: PidService, iface: string): number | undefined {
  const pid = readPidFile(servicePaths(stateDir, service, iface).pid);
  if (pid === undefined) return undefined;
  // /proc/PID/stat: "PID (COMM) STATE ..."; a zombie (Z) or dead (X) process no longer serves.
  const stat = readText(`/proc/${pid}/stat`);
  if (stat === undefined) return undefined;
  const open = stat.indexOf("(");
  const close = stat.lastIndexOf(")");
  const comm = stat.slice(open + 1, close);
  const state = stat.slice(close + 2, close + 3);
  return PROGRAMS[service].includes(comm) && state !== "Z" && state !== "X" ? pid : undefined;
}

export function configHash(stateDir: string, service: PidService, iface: string): string {
  const text = readText(servicePaths(stateDir, service, iface).config);
  return text === undefined ? "" : sha256(text);
}

/** Most a lease file of ours can be: a handful of addresses and numbers. */
const LEASE_FILE_MAX = 4096;

/**
 * Our DHCP clients: a pid file under STATE/dhcp whose live process is udhcpc with our pid file on its
 * command line (a reused pid, or a udhcpc someone else started, is not ours), and the lease its hook
 * recorded. A lease file that does not parse is reported on the client and never used.
 */
function observeDhcpClients(stateDir: string, scope: string): DhcpClient[] {
  const dir = dhcpDir(stateDir, scope);
  return pidFileInterfaces(dir).flatMap((iface): DhcpClient[] => {
    const paths = dhcpPaths(dir, iface);
    const pid = readPidFile(paths.pid);
    if (pid === undefined) return [];
    const argv = processArgv(pid);
    if (argv === undefined || basename(argv[0] ?? "") !== "udhcpc" || dirOfArgv(argv) !== dir) return [];
    if (argv[argv.indexOf("-i") + 1] !== iface) return [];
    const read = readRegularFile(paths.lease, LEASE_FILE_MAX);
    const lease = read.ok ? parseLease(read.text) : undefined;
    // No lease file yet is no problem: the client has not got one.
    const problem = read.ok
      ? lease === undefined
        ? `${paths.lease} is not a lease backhaul wrote: ignored`
        : undefined
      : read.reason === "missing"
        ? undefined
        : read.message;
    return [
      {
        kind: "dhcp-client",
        iface,
        argv,
        pid,
        ...(lease === undefined ? {} : { lease }),
        ...(problem === undefined ? {} : { leaseProblem: problem }),
      },
    ];
  });
}

/** A hotspot's lease file holds at most a lease per client (dnsmasq --dhcp-lease-max). */
const LEASES_FILE_MAX = 256 * 1024;

/**
 * Our hotspot DHCP servers: a pid file under STATE/dnsmasq whose live process is dnsmasq with our
 * command line for that interface and directory, and the leases its lease file holds.
 */
function observeDnsmasq(stateDir: string, scope: string): Dnsmasq[] {
  const dir = dnsmasqDir(stateDir, scope);
  return pidFileInterfaces(dir).flatMap((iface): Dnsmasq[] => {
    const paths = dnsmasqPaths(dir, iface);
    const pid = readPidFile(paths.pid);
    if (pid === undefined) return [];
    const argv = processArgv(pid);
    if (argv === undefined || basename(argv[0] ?? "") !== "dnsmasq") return [];
    const ours = paramsOfArgv(argv);
    if (ours === undefined || ours.dir !== dir || ours.params.iface !== iface) return [];
    const read = readRegularFile(paths.leases, LEASES_FILE_MAX);
    return [{ kind: "dnsmasq", iface, argv, pid, leases: read.ok ? parseHotspotLeases(read.text) : [] }];
  });
}

/** Our services; `scope` names the network namespace whose files are looked for ("host": the root one). */
export function observeDaemons(stateDir: string, scope: string): { dnsmasq: Dnsmasq[]; dhcp: DhcpClient[] } {
  return { dnsmasq: observeDnsmasq(stateDir, scope), dhcp: observeDhcpClients(stateDir, scope) };
}

/** Interfaces whose hostapd control socket exists (the process may still be gone: hostapd_cli tells). */
export function hostapdSockets(stateDir: string): string[] {
  const dir = servicePaths(stateDir, "hostapd", "").ctrlDir;
  try {
    return readdirSync(dir)
      .filter((f) => statSync(join(dir, f)).isSocket())
      .sort();
  } catch {
    return [];
  }
}
