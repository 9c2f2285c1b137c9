// The DHCP client of an uplink with `addressing: dhcp`: busybox udhcpc in the foreground, one per
// interface, started and stopped by backhaul. Its desired form is the exact command line it runs
// (interface, our pid file, our lease hook); observed, the command line of the live process its pid
// file names, so a changed argument is a restart and a reused pid is never taken for ours. The lease
// the hook recorded rides along on the observed client (selection takes `gateway: auto` from it).
import { plainEqual } from "../../util/canonical.js";
import { formatAddress, parseInterfacePrefix } from "../../util/prefix.js";
import { RenderError, type KindDriver, type OpOn } from "../driver.js";
import { validInterfaceName } from "../ip/common.js";
import type { KernelState } from "../types.js";
import { serviceParts } from "./common.js";

/** What the lease hook recorded of the server's answer (checked when read: see parseLease). */
export interface DhcpLease {
  /** The address with its prefix, "100.64.3.2/24". */
  readonly address: string;
  readonly router?: string;
  readonly dns: readonly string[];
  /** Lease time in seconds. */
  readonly seconds: number;
}

export interface DhcpClient {
  readonly kind: "dhcp-client";
  readonly iface: string;
  /** The client's whole command line. */
  readonly argv: readonly string[];
  /** Observed only: the live process. */
  readonly pid?: number;
  /** Observed only: the lease it holds, when it holds one. */
  readonly lease?: DhcpLease;
  /** Observed only: why a lease file was not taken (unreadable, or not what the hook writes). */
  readonly leaseProblem?: string;
}

/** The name a network namespace's files go under: its name, "host" for the root namespace. */
export const scopeOf = (netns: string | undefined): string => netns ?? "host";

/**
 * The directory of the clients of one network namespace ("host" for the root namespace): several
 * nodes (labs, containers) may share a state directory, and each has its own usb0.
 */
export function dhcpDir(stateDir: string, scope: string): string {
  return `${stateDir.replace(/\/+$/, "")}/dhcp/${scope}`;
}

/** Where a client's files live in its directory. */
export function dhcpPaths(dir: string, iface: string) {
  return {
    pid: `${dir}/${iface}.pid`,
    lease: `${dir}/${iface}.lease`,
    log: `${dir}/${iface}.log`,
    /** One hook for the directory's clients: udhcpc runs it with the event as its only argument. */
    hook: `${dir}/hook.mjs`,
  };
}

/**
 * The command line of an interface's client: foreground (-f) under our supervision, releasing its
 * lease when stopped (-R); three discovers 2 s apart, then a 5 s pause before trying again, so a
 * tether that is plugged in gets its lease within seconds.
 */
export function dhcpArgv(dir: string, iface: string): string[] {
  const p = dhcpPaths(dir, iface);
  return ["udhcpc", "-f", "-R", "-i", iface, "-p", p.pid, "-s", p.hook, "-t", "3", "-T", "2", "-A", "5"];
}

export function dhcpClientOf(dir: string, iface: string): DhcpClient {
  return { kind: "dhcp-client", iface, argv: dhcpArgv(dir, iface) };
}

/** The directory a client's command line keeps its pid file in, undefined when it has none. */
export function dirOfArgv(argv: readonly string[]): string | undefined {
  const i = argv.indexOf("-i");
  const p = argv.indexOf("-p");
  const iface = argv[i + 1];
  const pid = argv[p + 1];
  if (i < 0 || p < 0 || iface === undefined || pid === undefined) return undefined;
  const suffix = `/${iface}.pid`;
  return pid.endsWith(suffix) ? pid.slice(0, -suffix.length) : undefined;
}

const SAFE_PATH = /^\/[\w./-]*$/;

/** The command line checked before it reaches a process: our shape, a valid interface, plain paths. */
function checkedArgv(c: DhcpClient): readonly string[] {
  if (!validInterfaceName(c.iface) || c.iface.startsWith("-"))
    throw new RenderError(`invalid interface name ${JSON.stringify(c.iface)}`);
  const dir = dirOfArgv(c.argv);
  if (dir === undefined || !SAFE_PATH.test(dir) || dir.split("/").includes(".."))
    throw new RenderError(`the DHCP client of ${c.iface} names no usable state directory`);
  if (!plainEqual(c.argv, dhcpArgv(dir, c.iface)))
    throw new RenderError(`the DHCP client of ${c.iface} has a command line backhaul does not run`);
  return c.argv;
}

/** A lease file's content checked field by field; undefined when anything is off (never trusted). */
export function parseLease(text: string): DhcpLease | undefined {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof v !== "object" || v === null) return undefined;
  const o = v as Record<string, unknown>;
  const ipv4 = (s: unknown): s is string =>
    typeof s === "string" &&
    /^(\d{1,3})(\.\d{1,3}){3}$/.test(s) &&
    s.split(".").every((x) => Number(x) <= 255);
  if (typeof o["address"] !== "string") return undefined;
  let address: string;
  try {
    const p = parseInterfacePrefix(o["address"]);
    if (p.family !== 4 || p.len === 0) return undefined;
    address = `${formatAddress(4, p.net)}/${p.len}`;
  } catch {
    return undefined;
  }
  const router = o["router"];
  if (router !== undefined && !ipv4(router)) return undefined;
  const dns = o["dns"];
  if (!Array.isArray(dns) || dns.length > 8 || !dns.every(ipv4)) return undefined;
  const seconds = o["seconds"];
  if (typeof seconds !== "number" || !Number.isInteger(seconds) || seconds <= 0 || seconds > 2 ** 32)
    return undefined;
  return { address, ...(router === undefined ? {} : { router }), dns: [...dns], seconds };
}

const describe = (c: DhcpClient): string =>
  `DHCP client on ${c.iface}${c.lease === undefined ? "" : ` (lease ${c.lease.address}${c.lease.router === undefined ? "" : ` via ${c.lease.router}`})`}`;

function render(op: OpOn<DhcpClient>) {
  if (op.op === "change") throw new RenderError("a DHCP client is restarted, never changed in place");
  const c = op.op === "add" ? op.after : op.before;
  const argv = checkedArgv(c);
  const paths = dhcpPaths(dirOfArgv(argv)!, c.iface);
  return [
    op.op === "add"
      ? ({
          action: "start",
          label: describe(c),
          argv,
          pidFile: paths.pid,
          logFile: paths.log,
          prepare: { kind: "dhcp", path: paths.hook },
        } as const)
      : ({ action: "stop", label: describe(c), argv, pidFile: paths.pid } as const),
  ];
}

export const dhcpClient: KindDriver<DhcpClient, KernelState> = {
  kind: "dhcp-client",
  ...serviceParts<DhcpClient>(2, ["service-pids"]),
  command: { tool: "service", render },
  policyRef: (o) => ({ iface: o.iface, addressing: true }),
  // Its address appears once it has a lease; starting it changes no route, stopping it removes one.
  disruption: (op) => (op.op === "add" ? "none" : "flap"),
  observe: (raw) => [...raw.daemons.dhcp],
  describe,
  show: {
    place: 9,
    keep: () => true,
    sections: (ds) => [
      {
        title: "Services",
        lines: ds.map(
          (d) =>
            `  dhcp client on ${d.iface}: ${d.pid === undefined ? "not running" : `pid ${d.pid}`}` +
            (d.lease === undefined
              ? `, no lease${d.leaseProblem === undefined ? "" : ` (${d.leaseProblem})`}`
              : `, lease ${d.lease.address}${d.lease.router === undefined ? "" : ` router ${d.lease.router}`} for ${d.lease.seconds} s`),
        ),
      },
    ],
  },
  supervision: { pid: (o) => o.pid, iface: (o) => o.iface },
};
