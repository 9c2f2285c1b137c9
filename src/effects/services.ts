// The processes backhaul starts (hostapd, dnsmasq, a DHCP client), found only through the files it
// keeps for them under its state directory, so whatever is seen here is ours:
//   STATE/hostapd/NETNS/IFACE.conf, .pid, .log, .wpa_psk, .psk, .tokens, ctrl/IFACE (our access point;
//     kinds/services/hostapd.ts, its secrets in effects/hotspot/credentials.ts)
//   STATE/dnsmasq/NETNS/IFACE.pid, .leases, .log (our hotspot DHCP server; kinds/services/dnsmasq.ts)
//   STATE/dhcp/NETNS/IFACE.pid, .lease, .log, hook.mjs (our udhcpc and its hook; kinds/services/dhcp-client.ts)
import { readdirSync } from "node:fs";
import { basename } from "node:path";
import type { DhcpClient, Dnsmasq, Hostapd } from "../kinds/types.js";
import { dhcpDir, dhcpPaths, dirOfArgv, parseLease } from "../kinds/services/dhcp-client.js";
import { dnsmasqDir, dnsmasqPaths, paramsOfArgv, parseHotspotLeases } from "../kinds/services/dnsmasq.js";
import { hostapdDir, hostapdPaths, securityOf } from "../kinds/services/hostapd.js";
import { readRegularFile } from "../policy/read-file.js";
import { plainEqual } from "../util/canonical.js";
import { credentialsOf, passphraseSince, readOurConf } from "./hotspot/credentials.js";
import { processArgv, readPidFile } from "./proc.js";

export const DEFAULT_STATE_DIR = "/var/lib/backhaul";

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

/**
 * Our access points: a pid file under STATE/hostapd whose live process runs our configuration file
 * (`hostapd CONF`), that file's settings read back, and whether its credentials are current. The
 * state and stations come from its control socket (observe.ts asks it).
 */
function observeHostapd(stateDir: string, scope: string, now: number): Hostapd[] {
  const dir = hostapdDir(stateDir, scope);
  return pidFileInterfaces(dir).flatMap((iface): Hostapd[] => {
    const paths = hostapdPaths(dir, iface);
    const pid = readPidFile(paths.pid);
    const argv = pid === undefined ? undefined : processArgv(pid);
    if (pid === undefined || !plainEqual(argv, ["hostapd", paths.conf])) return [];
    const parsed = readOurConf(paths.conf);
    if (parsed === undefined) return [];
    const security = securityOf(parsed.config);
    const pf = parsed.passphraseFile;
    const credentials =
      security === "open" || pf === undefined
        ? undefined
        : credentialsOf(parsed, { ...paths, security, passphraseFile: pf }, now);
    const since = pf === undefined ? undefined : passphraseSince(pf);
    return [
      {
        kind: "hostapd",
        iface,
        argv: ["hostapd", paths.conf],
        config: parsed.config,
        ...(pf === undefined ? {} : { passphraseFile: pf }),
        ...(credentials === undefined ? {} : { credentials }),
        pid,
        ...(since === undefined ? {} : { passphraseSince: since }),
      },
    ];
  });
}

/** Our services; `scope` names the network namespace whose files are looked for ("host": the root one). */
export function observeDaemons(
  stateDir: string,
  scope: string,
  now = Date.now(),
): { dnsmasq: Dnsmasq[]; dhcp: DhcpClient[]; hostapd: Hostapd[] } {
  return {
    dnsmasq: observeDnsmasq(stateDir, scope),
    dhcp: observeDhcpClients(stateDir, scope),
    hostapd: observeHostapd(stateDir, scope, now),
  };
}
