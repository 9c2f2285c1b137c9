// What `backhaul lab status` reports: every recorded lab, whether its namespaces and processes are
// still there, and each uplink's state as the node sees it.
import { run } from "../effects/exec.js";
import { isAlive } from "../effects/proc.js";
import { allNamespaces } from "./build.js";
import { listNamespaces } from "./netns.js";
import { listLabRecords, type LabRecord } from "./registry.js";

export interface UplinkStatus {
  readonly iface: string;
  readonly isp: string;
  readonly gateway: string;
  readonly addressing: "external" | "dhcp";
  /** Present in the node namespace. */
  readonly present: boolean;
  readonly carrier: boolean;
  /** IPv4 addresses on the node's interface. */
  readonly addresses: readonly string[];
}

export interface LabStatus {
  readonly id: string;
  readonly persistent: boolean;
  /** The owning process of a non-persistent lab. */
  readonly ownerPid?: number;
  /** false when the owner is gone: the next lab start removes it. */
  readonly ownerAlive: boolean;
  readonly createdAt: string;
  readonly source?: string;
  readonly namespaces: ReadonlyArray<{ readonly name: string; readonly present: boolean }>;
  readonly processes: ReadonlyArray<{
    readonly role: string;
    readonly pid: number;
    readonly running: boolean;
  }>;
  readonly uplinks: readonly UplinkStatus[];
  readonly client?: { readonly namespace: string; readonly iface: string; readonly address: string };
}

interface IpAddrJson {
  ifname?: string;
  flags?: string[];
  addr_info?: Array<{ family?: string; local?: string; prefixlen?: number }>;
}

async function nodeLinks(netns: string): Promise<Map<string, IpAddrJson>> {
  const r = await run(["ip", "-n", netns, "-j", "address", "show"], { allowFailure: true });
  if (r.exitCode !== 0 || r.stdout.trim() === "") return new Map();
  const links = JSON.parse(r.stdout) as IpAddrJson[];
  return new Map(links.flatMap((l) => (l.ifname ? [[l.ifname, l] as const] : [])));
}

async function statusOf(r: LabRecord, existing: readonly string[]): Promise<LabStatus> {
  const namespaces = allNamespaces(r.names).map((name) => ({ name, present: existing.includes(name) }));
  const links = existing.includes(r.names.node)
    ? await nodeLinks(r.names.node)
    : new Map<string, IpAddrJson>();
  const c = r.topology.client;
  return {
    id: r.id,
    persistent: r.persistent,
    ...(r.persistent ? {} : { ownerPid: r.owner.pid }),
    ownerAlive: r.persistent || isAlive(r.owner.pid, r.owner.startTime),
    createdAt: r.createdAt,
    ...(r.source !== undefined ? { source: r.source } : {}),
    namespaces,
    processes: r.processes.map((p) => ({ role: p.role, pid: p.pid, running: isAlive(p.pid, p.startTime) })),
    uplinks: r.topology.uplinks.map((u) => {
      const l = links.get(u.iface);
      return {
        iface: u.iface,
        isp: r.names.isp[u.iface] ?? "",
        gateway: r.gateways[u.iface] ?? u.gateway,
        addressing: u.addressing.mode,
        present: l !== undefined,
        carrier: l?.flags?.includes("LOWER_UP") ?? false,
        addresses: (l?.addr_info ?? [])
          .filter((a) => a.family === "inet" && a.local !== undefined)
          .map((a) => `${a.local}/${a.prefixlen}`),
      };
    }),
    ...(c && r.names.client
      ? { client: { namespace: r.names.client, iface: c.iface, address: c.address } }
      : {}),
  };
}

export async function labStatus(): Promise<LabStatus[]> {
  const existing = await listNamespaces();
  return Promise.all(listLabRecords().map((r) => statusOf(r, existing)));
}
