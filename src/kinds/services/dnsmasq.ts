// The hotspot's DHCP and DNS server: our own dnsmasq, in the foreground under our supervision, bound to
// the hotspot interface only (never the system's dnsmasq, never another interface). Its whole
// configuration is its command line (no file is read: --conf-file=/dev/null), so its desired form is
// that command line and a changed setting is a restart. Observed, the command line of the live process
// its pid file names (a reused pid is never taken for ours), with the leases its lease file holds.
//
// DNS: clients get the node's hotspot address as router and DNS server; dnsmasq answers on the hotspot
// interface only and forwards to the node's own resolvers (/etc/resolv.conf), ignoring /etc/hosts.
import { RenderError, type KindDriver, type OpOn, type ServiceClient } from "../driver.js";
import { canonicalAddress, validInterfaceName } from "../ip/common.js";
import type { KernelState } from "../types.js";
import { serviceParts } from "./common.js";
import { plainEqual } from "../../util/canonical.js";

/** One client's lease, as dnsmasq's lease file records it. */
export type HotspotLease = ServiceClient;

export interface Dnsmasq {
  readonly kind: "dnsmasq";
  readonly iface: string;
  /** The server's whole command line. */
  readonly argv: readonly string[];
  /** Observed only: the live process. */
  readonly pid?: number;
  /** Observed only: the clients' leases. */
  readonly leases?: readonly HotspotLease[];
}

/** What the server hands out, from the policy's hotspot section. */
export interface DnsmasqParams {
  readonly iface: string;
  /** The node's address on the hotspot: the clients' router and DNS server. */
  readonly router: string;
  readonly netmask: string;
  readonly start: string;
  readonly end: string;
  readonly leaseSeconds: number;
  readonly maxClients: number;
}

/** The directory of one namespace's servers ("host" for the root namespace). */
export function dnsmasqDir(stateDir: string, scope: string): string {
  return `${stateDir.replace(/\/+$/, "")}/dnsmasq/${scope}`;
}

export function dnsmasqPaths(dir: string, iface: string) {
  return { pid: `${dir}/${iface}.pid`, leases: `${dir}/${iface}.leases`, log: `${dir}/${iface}.log` };
}

export function dnsmasqArgv(dir: string, p: DnsmasqParams): string[] {
  const paths = dnsmasqPaths(dir, p.iface);
  return [
    "dnsmasq",
    "--keep-in-foreground",
    "--conf-file=/dev/null",
    "--no-hosts",
    "--bind-dynamic",
    `--interface=${p.iface}`,
    "--except-interface=lo",
    `--dhcp-range=${p.start},${p.end},${p.netmask},${p.leaseSeconds}`,
    `--dhcp-option=option:router,${p.router}`,
    `--dhcp-option=option:dns-server,${p.router}`,
    "--dhcp-authoritative",
    `--dhcp-lease-max=${p.maxClients}`,
    `--dhcp-leasefile=${paths.leases}`,
    `--pid-file=${paths.pid}`,
    "--log-facility=-",
  ];
}

export function dnsmasqOf(dir: string, p: DnsmasqParams): Dnsmasq {
  return { kind: "dnsmasq", iface: p.iface, argv: dnsmasqArgv(dir, p) };
}

const SAFE_PATH = /^\/[\w./-]*$/;
const value = (argv: readonly string[], flag: string): string | undefined =>
  argv.find((a) => a.startsWith(`${flag}=`))?.slice(flag.length + 1);

/** The parameters and directory a command line of ours was built from; undefined when it is not one. */
export function paramsOfArgv(argv: readonly string[]): { dir: string; params: DnsmasqParams } | undefined {
  const iface = value(argv, "--interface");
  const pid = value(argv, "--pid-file");
  const range = value(argv, "--dhcp-range")?.split(",");
  const router = value(argv, "--dhcp-option")?.replace(/^option:router,/, "");
  const max = Number(value(argv, "--dhcp-lease-max"));
  if (iface === undefined || pid === undefined || range?.length !== 4 || router === undefined)
    return undefined;
  const suffix = `/${iface}.pid`;
  if (!pid.endsWith(suffix)) return undefined;
  const [start, end, netmask, lease] = range as [string, string, string, string];
  const params = { iface, router, netmask, start, end, leaseSeconds: Number(lease), maxClients: max };
  return { dir: pid.slice(0, -suffix.length), params };
}

/** The command line checked before it reaches a process: our shape, a valid interface, plain values. */
function checkedArgv(d: Dnsmasq): readonly string[] {
  if (!validInterfaceName(d.iface) || d.iface.startsWith("-"))
    throw new RenderError(`invalid interface name ${JSON.stringify(d.iface)}`);
  const parsed = paramsOfArgv(d.argv);
  if (parsed === undefined || parsed.params.iface !== d.iface)
    throw new RenderError(`the DHCP server of ${d.iface} has a command line backhaul does not run`);
  const { dir, params: p } = parsed;
  if (!SAFE_PATH.test(dir) || dir.split("/").includes(".."))
    throw new RenderError(`the DHCP server of ${d.iface} names no usable state directory`);
  for (const a of [p.router, p.netmask, p.start, p.end])
    if (canonicalAddress(a, 4) !== a)
      throw new RenderError(`the DHCP server of ${d.iface}: ${JSON.stringify(a)} is not an IPv4 address`);
  if (
    !Number.isInteger(p.leaseSeconds) ||
    p.leaseSeconds < 60 ||
    !Number.isInteger(p.maxClients) ||
    p.maxClients < 1
  )
    throw new RenderError(`the DHCP server of ${d.iface}: lease time or client limit out of range`);
  if (!plainEqual(d.argv, dnsmasqArgv(dir, p)))
    throw new RenderError(`the DHCP server of ${d.iface} has a command line backhaul does not run`);
  return d.argv;
}

/**
 * dnsmasq's lease file: "EXPIRY MAC ADDRESS HOSTNAME CLIENTID" per line ("*" for no hostname). Lines
 * that are not leases are skipped, never trusted.
 */
export function parseHotspotLeases(text: string): HotspotLease[] {
  return text.split("\n").flatMap((line): HotspotLease[] => {
    const [exp, mac, address, host] = line.trim().split(/\s+/);
    if (
      exp === undefined ||
      !/^\d{1,12}$/.test(exp) ||
      mac === undefined ||
      !/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(mac)
    )
      return [];
    if (address === undefined || canonicalAddress(address, 4) !== address) return [];
    const hostname = host !== undefined && host !== "*" && /^[\w.-]{1,63}$/.test(host) ? host : undefined;
    return [
      {
        mac: mac.toLowerCase(),
        address,
        expires: Number(exp),
        ...(hostname === undefined ? {} : { hostname }),
      },
    ];
  });
}

const describe = (d: Dnsmasq): string => {
  const p = paramsOfArgv(d.argv)?.params;
  return `DHCP and DNS server on ${d.iface}${p === undefined ? "" : ` (${p.start}-${p.end}, router ${p.router})`}`;
};

function render(op: OpOn<Dnsmasq>) {
  if (op.op === "change")
    throw new RenderError("the hotspot's DHCP server is restarted, never changed in place");
  const d = op.op === "add" ? op.after : op.before;
  const argv = checkedArgv(d);
  const paths = dnsmasqPaths(paramsOfArgv(argv)!.dir, d.iface);
  return [
    op.op === "add"
      ? ({ action: "start", label: describe(d), argv, pidFile: paths.pid, logFile: paths.log } as const)
      : ({ action: "stop", label: describe(d), argv, pidFile: paths.pid } as const),
  ];
}

export const dnsmasq: KindDriver<Dnsmasq, KernelState> = {
  kind: "dnsmasq",
  ...serviceParts<Dnsmasq>(12, ["service-pids"]),
  command: { tool: "service", render },
  policyRef: (o) => ({
    iface: o.iface,
    hotspot: ["/hotspot/dhcp", "/hotspot/address", "/hotspot/maxClients"],
  }),
  observe: (raw) => [...raw.daemons.dnsmasq],
  describe,
  show: {
    place: 8,
    keep: () => true,
    sections: (ds) => [
      {
        title: "Services",
        lines: ds.map(
          (d) =>
            `  dhcp server on ${d.iface}: ${d.pid === undefined ? "not running" : `pid ${d.pid}`}, ${d.leases?.length ?? 0} lease(s)`,
        ),
      },
    ],
  },
  supervision: { pid: (o) => o.pid, iface: (o) => o.iface, clients: (o) => o.leases ?? [] },
  independent: true,
};
