// DHCP clients that are not backhaul's, running in this network namespace: what `adopt` says addresses
// an uplink. Read from /proc; a process in another network namespace (the host's dhclient seen from a
// lab) is not this node's, so only processes whose net namespace is ours count.
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { basename } from "node:path";

const CLIENTS: ReadonlySet<string> = new Set(["dhclient", "dhcpcd", "udhcpc", "pump"]);

function read(f: (path: string) => string, path: string): string | undefined {
  try {
    return f(path);
  } catch {
    return undefined;
  }
}

/**
 * Interface → "dhclient, pid 412" for each interface in `ifaces` a DHCP client other than the pids in
 * `ours` runs on: the interface is named by an argument of its own (`eth0`, `-i eth0`, `-ieth0`,
 * `--interface=eth0`). `proc` is where procfs is mounted.
 */
export function foreignDhcpClients(
  ifaces: readonly string[],
  ours: ReadonlySet<number>,
  proc = "/proc",
): Map<string, string> {
  const here = read(readlinkSync, `${proc}/self/ns/net`);
  const out = new Map<string, string>();
  if (here === undefined) return out;
  const names = new Set(ifaces);
  for (const pid of readdirSync(proc)) {
    if (!/^\d+$/.test(pid) || ours.has(Number(pid))) continue;
    // A zombie's command line is empty: it runs nothing any more.
    const argv = read((p) => readFileSync(p, "utf8"), `${proc}/${pid}/cmdline`)?.split("\0");
    const program = argv?.[0] === undefined || argv[0] === "" ? undefined : basename(argv[0]);
    if (program === undefined || !CLIENTS.has(program)) continue;
    if (read(readlinkSync, `${proc}/${pid}/ns/net`) !== here) continue;
    for (const a of argv!.slice(1)) {
      const iface = a.startsWith("--interface=") ? a.slice(12) : /^-i./.test(a) ? a.slice(2) : a;
      if (names.has(iface) && !out.has(iface)) out.set(iface, `${program}, pid ${pid}`);
    }
  }
  return out;
}
