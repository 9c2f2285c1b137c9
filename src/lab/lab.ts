// A running lab: namespaces, veth pairs, probe targets and DHCP servers built from a Topology, the
// faults tests inject, and a teardown that always happens (explicitly, on SIGINT/SIGTERM, or at the
// next start when the owner crashed).
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import ipaddr from "ipaddr.js";
import { join } from "node:path";
import { run, startDetached, type RunOptions, type RunResult } from "../effects/exec.js";
import { isAlive, pollUntil, processStartTime, readPidFile } from "../effects/proc.js";
import {
  allNamespaces,
  clientBatch,
  dhcpServerSetup,
  GRAY_TABLE,
  grayFailureRuleset,
  ispBatch,
  ispUplinkLines,
  labNames,
  nodeBatch,
  nodeUplinkLines,
  rootBatch,
  uplinkMac,
  uplinkVethLine,
} from "./build.js";
import { deleteNamespace, newLabId, recordOwner, removeStaleNamespaces, type Owner } from "./netns.js";
import {
  labDir,
  listLabRecords,
  readLabRecord,
  removeLabRecord,
  removeOrphanLabDirs,
  writeLabRecord,
  type LabRecord,
  type TrackedProcess,
} from "./registry.js";
import { TARGET_SERVER_READY, targetServerArgv } from "./target-server.js";
import { hostOf, type Topology, type Uplink } from "./topology.js";

export interface LabOptions {
  /** Outlive this process (for `backhaul lab up`); removed only by `down()` / `backhaul lab down`. */
  readonly persistent?: boolean;
  /** The topology file, recorded for `lab status`. */
  readonly source?: string;
}

/** Labs this process must tear down when it is interrupted. */
const active = new Set<Lab>();
const SIGNALS = ["SIGINT", "SIGTERM"] as const;

function onSignal(signal: NodeJS.Signals): void {
  for (const s of SIGNALS) process.off(s, onSignal);
  void Promise.allSettled([...active].map((l) => l.down())).finally(() => process.kill(process.pid, signal));
}

function track(lab: Lab): void {
  if (active.size === 0) for (const s of SIGNALS) process.on(s, onSignal);
  active.add(lab);
}

function untrack(lab: Lab): void {
  active.delete(lab);
  if (active.size === 0) for (const s of SIGNALS) process.off(s, onSignal);
}

function ipBatch(netns: string | undefined, lines: readonly string[]): Promise<RunResult> {
  const argv = netns === undefined ? ["ip", "-batch", "-"] : ["ip", "-n", netns, "-batch", "-"];
  return run(argv, { input: `${lines.join("\n")}\n` });
}

/** Like Promise.all, but waits for every step to finish before failing: no work outlives a failed bring-up. */
async function settleAll(steps: ReadonlyArray<Promise<unknown>>): Promise<void> {
  const failed = (await Promise.allSettled(steps)).find((r) => r.status === "rejected");
  if (failed) throw failed.reason;
}

function kill(p: TrackedProcess): void {
  if (!isAlive(p.pid, p.startTime)) return;
  try {
    process.kill(p.pid, "SIGKILL");
  } catch {
    // exited meanwhile
  }
}

/**
 * Remove what crashed runs left behind: namespaces whose owner is gone, and records of
 * non-persistent labs whose owner process is dead. Labs of live processes and persistent labs stay.
 * Returns the ids of the labs removed.
 */
export async function removeStaleLabs(): Promise<string[]> {
  await removeStaleNamespaces();
  const stale = listLabRecords().filter((r) => !r.persistent && !isAlive(r.owner.pid, r.owner.startTime));
  for (const r of stale) {
    r.processes.forEach(kill);
    await Promise.all(allNamespaces(r.names).map(deleteNamespace));
    removeLabRecord(r.id);
  }
  removeOrphanLabDirs();
  return stale.map((r) => r.id);
}

export class Lab {
  /** Set once teardown starts: late arrivals (a process that finished starting) are killed, not recorded. */
  private closed = false;

  private constructor(private record: LabRecord) {}

  /** Bring a topology up as a new lab with a unique id. On failure, whatever was made is removed. */
  static async up(topology: Topology, opts: LabOptions = {}): Promise<Lab> {
    await removeStaleLabs();
    const id = newLabId();
    const startTime = processStartTime(process.pid);
    if (startTime === undefined) throw new Error("cannot read this process's start time");
    const names = labNames(id, topology);
    const lab = new Lab({
      id,
      topology,
      ...(opts.source !== undefined ? { source: opts.source } : {}),
      persistent: opts.persistent ?? false,
      owner: { pid: process.pid, startTime },
      names,
      gateways: Object.fromEntries(topology.uplinks.map((u) => [u.iface, u.gateway])),
      processes: [],
      createdAt: new Date().toISOString(),
    });
    // The record (a persistent lab's marker) exists before any namespace, the namespaces' owner
    // records before the namespaces: at no moment is a piece of this lab stale to someone else.
    writeLabRecord(lab.record);
    mkdirSync(labDir(id), { recursive: true });
    track(lab);
    try {
      const owner: Owner = lab.record.persistent ? { persistentLab: id } : process.pid;
      recordOwner(allNamespaces(names), owner);
      await ipBatch(undefined, rootBatch(id, topology, names));
      await settleAll([
        ipBatch(names.node, nodeBatch(topology)),
        ...(names.client ? [ipBatch(names.client, clientBatch(topology))] : []),
        ...topology.uplinks.map((u) => lab.bringUpIsp(u)),
      ]);
    } catch (e) {
      await lab.down();
      throw e;
    }
    if (lab.record.persistent) untrack(lab);
    return lab;
  }

  /** A lab recorded on this machine (e.g. brought up by `backhaul lab up`), to inspect or take down. */
  static open(id: string): Lab | undefined {
    const r = readLabRecord(id);
    return r ? new Lab(r) : undefined;
  }

  get id(): string {
    return this.record.id;
  }
  get topology(): Topology {
    return this.record.topology;
  }
  get persistent(): boolean {
    return this.record.persistent;
  }
  /** The process that brought the lab up. */
  get owner(): { readonly pid: number; readonly startTime: number } {
    return this.record.owner;
  }
  /** The node namespace. */
  get node(): string {
    return this.record.names.node;
  }
  /** The client namespace, when the topology has a client. */
  get client(): string | undefined {
    return this.record.names.client;
  }
  get namespaces(): string[] {
    return allNamespaces(this.record.names);
  }
  get processes(): readonly TrackedProcess[] {
    return this.record.processes;
  }
  /** The lab's state directory (dnsmasq config, leases, logs). */
  get dir(): string {
    return labDir(this.id);
  }

  uplink(iface: string): Uplink {
    const u = this.topology.uplinks.find((x) => x.iface === iface);
    if (!u) throw new Error(`lab ${this.id} has no uplink ${JSON.stringify(iface)}`);
    return u;
  }
  /** The ISP namespace behind an uplink. */
  isp(iface: string): string {
    this.uplink(iface);
    return this.record.names.isp[iface] as string;
  }
  /** The ISP's current gateway address on an uplink, "a.b.c.d/len". */
  gateway(iface: string): string {
    this.uplink(iface);
    return this.record.gateways[iface] as string;
  }
  /** The MAC of the node's end of an uplink (fixed for the lab's life, also across re-creation). */
  mac(iface: string): string {
    return uplinkMac(this.id, this.topology.uplinks.indexOf(this.uplink(iface)));
  }

  /** Run a program inside one of this lab's namespaces. */
  exec(netns: string, argv: readonly string[], opts: Omit<RunOptions, "netns"> = {}): Promise<RunResult> {
    if (!this.namespaces.includes(netns)) throw new Error(`${netns} is not a namespace of lab ${this.id}`);
    return run(argv, { ...opts, netns });
  }

  // Faults. Each one changes the kernel the way the real event would, and only inside the lab.

  /** Carrier loss: the ISP's end goes down; the node's end stays admin up and loses carrier. */
  async carrierLoss(iface: string): Promise<void> {
    await run(["ip", "-n", this.isp(iface), "link", "set", this.uplink(iface).peer, "down"]);
  }

  /** Carrier returns: the ISP's end comes back up. */
  async carrierReturn(iface: string): Promise<void> {
    await run(["ip", "-n", this.isp(iface), "link", "set", this.uplink(iface).peer, "up"]);
  }

  /** Gray failure: the ISP drops every packet to, from and through the uplink; carrier stays up. */
  async grayFailure(iface: string): Promise<void> {
    await run(["nft", "-f", "-"], {
      netns: this.isp(iface),
      input: grayFailureRuleset(this.uplink(iface).peer),
    });
  }

  /** Heal a gray failure: the ISP forwards and answers again. */
  async heal(iface: string): Promise<void> {
    await run(["nft", "delete", "table", "inet", GRAY_TABLE], { netns: this.isp(iface) });
  }

  /**
   * The ISP moves its gateway to another address in the same subnet ("a.b.c.d/len"). A DHCP server
   * on the uplink is restarted to announce the new router.
   */
  async changeGateway(iface: string, gateway: string): Promise<void> {
    const u = this.uplink(iface);
    const old = this.gateway(iface);
    const problem = gatewayProblem(gateway, old, u.addressing.address);
    if (problem !== undefined)
      throw new Error(`cannot move the gateway of ${iface} to ${gateway}: ${problem}`);
    await ipBatch(this.isp(iface), [
      // Old first: deleting a primary address also deletes its secondaries.
      `address del ${old} dev ${u.peer}`,
      `address add ${gateway} dev ${u.peer}`,
      // The routes back went with the old subnet route; put them back.
      ...this.topology.internet.routesBack.map(
        (p) => `route replace ${p} via ${hostOf(u.addressing.address)} dev ${u.peer}`,
      ),
    ]);
    this.update({ gateways: { ...this.record.gateways, [iface]: gateway } });
    if (u.addressing.mode === "dhcp") await this.restartDhcp(u);
  }

  /** The address the DHCP server of an uplink leases the node (no prefix length). */
  leased(iface: string): string {
    const u = this.uplink(iface);
    if (u.addressing.mode !== "dhcp") throw new Error(`uplink ${iface} is not DHCP-addressed`);
    return this.record.leased?.[iface] ?? hostOf(u.addressing.address);
  }

  /**
   * The ISP hands the node another address from the uplink's range: its DHCP server starts again
   * knowing only the new one, so the node's next renewal is refused (dnsmasq NAKs it) and the client
   * takes the new address.
   */
  async changeLease(iface: string, address: string): Promise<void> {
    const u = this.uplink(iface);
    if (u.addressing.mode !== "dhcp") throw new Error(`uplink ${iface} is not DHCP-addressed`);
    const problem = leaseProblem(address, u.addressing.range, this.gateway(iface));
    if (problem !== undefined) throw new Error(`cannot lease ${address} on ${iface}: ${problem}`);
    this.update({ leased: { ...this.record.leased, [iface]: address } });
    rmSync(join(this.dir, `${iface}.leases`), { force: true });
    await this.restartDhcp(u);
  }

  /** The ISP's DHCP server stops answering: the node's lease runs out at its end. */
  async stopDhcpServer(iface: string): Promise<void> {
    const u = this.uplink(iface);
    if (u.addressing.mode !== "dhcp") throw new Error(`uplink ${iface} is not DHCP-addressed`);
    await this.stopDhcp(u);
  }

  /** Address loss: every global IPv4 address of the node's interface disappears. */
  async removeAddress(iface: string): Promise<void> {
    await run([
      "ip",
      "-n",
      this.node,
      "-4",
      "address",
      "flush",
      "dev",
      this.uplink(iface).iface,
      "scope",
      "global",
    ]);
  }

  /** Put an externally addressed uplink's address back, as the outside world would. */
  async restoreAddress(iface: string): Promise<void> {
    const u = this.uplink(iface);
    if (u.addressing.mode !== "external")
      throw new Error(`uplink ${iface} is DHCP-addressed: its DHCP client restores it`);
    const metric = u.addressing.defaultRouteMetric;
    await ipBatch(this.node, [
      `address replace ${u.addressing.address} dev ${u.iface}`,
      // The address's going took the main table's default through it along.
      ...(metric === undefined
        ? []
        : [`route replace default via ${hostOf(this.gateway(iface))} dev ${u.iface} metric ${metric}`]),
    ]);
  }

  /** A rule added in the node namespace behind backhaul's back: `ip rule add <args>`. */
  async addForeignRule(args: readonly string[]): Promise<void> {
    await run(["ip", "-n", this.node, "rule", "add", ...args]);
  }

  /** A route added in the node namespace behind backhaul's back: `ip route add <args>`. */
  async addForeignRoute(args: readonly string[]): Promise<void> {
    await run(["ip", "-n", this.node, "route", "add", ...args]);
  }

  /** The node's interface disappears (both ends of the veth pair go). */
  async removeInterface(iface: string): Promise<void> {
    await run(["ip", "-n", this.node, "link", "del", this.uplink(iface).iface]);
  }

  /**
   * The interface comes back: same name, same MAC, the ISP's end configured again; the lab
   * re-assigns an external address (as the outside world would), a DHCP uplink's address is left to
   * its DHCP client.
   */
  async restoreInterface(iface: string): Promise<void> {
    const u = this.uplink(iface);
    await ipBatch(undefined, [uplinkVethLine(this.id, this.topology, this.record.names, iface)]);
    await Promise.all([
      ipBatch(this.node, nodeUplinkLines(u)),
      ipBatch(this.isp(iface), ispUplinkLines(this.topology, u, this.gateway(iface))),
    ]);
  }

  /** Remove the interface and create it again. */
  async recreateInterface(iface: string): Promise<void> {
    await this.removeInterface(iface);
    await this.restoreInterface(iface);
  }

  /** Tear the lab down: its processes, its namespaces (and with them every link), its files. */
  async down(): Promise<void> {
    this.closed = true;
    this.record.processes.forEach(kill);
    await Promise.all(this.namespaces.map(deleteNamespace));
    removeLabRecord(this.id);
    untrack(this);
  }

  private update(change: Partial<Pick<LabRecord, "gateways" | "leased" | "processes">>): void {
    this.record = { ...this.record, ...change };
    if (!this.closed) writeLabRecord(this.record);
  }

  private addProcess(p: TrackedProcess): void {
    this.update({ processes: [...this.record.processes, p] });
  }

  private async bringUpIsp(u: Uplink): Promise<void> {
    const ns = this.isp(u.iface);
    await ipBatch(ns, ispBatch(this.topology, u, this.gateway(u.iface)));
    await settleAll([
      run(["sysctl", "-qw", "net.ipv4.ip_forward=1"], { netns: ns }),
      this.startTargets(ns),
      ...(u.addressing.mode === "dhcp" ? [this.startDhcp(u)] : []),
    ]);
  }

  private async startTargets(ns: string): Promise<void> {
    const pid = await startDetached(targetServerArgv(this.topology.internet.targets), {
      netns: ns,
      readyLine: TARGET_SERVER_READY,
      stderrFile: join(this.dir, `${ns}.targets.log`),
    });
    this.trackPid(pid, ns, "targets");
  }

  private async startDhcp(u: Uplink): Promise<void> {
    const ns = this.isp(u.iface);
    const setup = dhcpServerSetup(u, {
      gateway: this.gateway(u.iface),
      mac: this.mac(u.iface),
      leased: this.leased(u.iface),
      dir: this.dir,
    });
    writeFileSync(setup.configFile, setup.config);
    rmSync(setup.pidFile, { force: true });
    // Both servers fork; dnsmasq's parent exits once the pid file is written, udhcpd's child writes it
    // a moment after its parent exited.
    await run(setup.argv, { netns: ns });
    const pid = await pollUntil(() => readPidFile(setup.pidFile), 2000, 10);
    if (pid === undefined)
      throw new Error(`the DHCP server of ${u.iface} wrote no pid file ${setup.pidFile}`);
    this.trackPid(pid, ns, `dhcp:${u.iface}`);
  }

  private async stopDhcp(u: Uplink): Promise<void> {
    const role = `dhcp:${u.iface}`;
    const gone = this.record.processes.filter((p) => p.role === role);
    gone.forEach(kill);
    this.update({ processes: this.record.processes.filter((p) => p.role !== role) });
    // Its socket must be closed before a successor binds port 67.
    await pollUntil(() => (gone.some((p) => isAlive(p.pid, p.startTime)) ? undefined : true), 1000, 10);
  }

  private async restartDhcp(u: Uplink): Promise<void> {
    await this.stopDhcp(u);
    await this.startDhcp(u);
  }

  private trackPid(pid: number, netns: string, role: string): void {
    const startTime = processStartTime(pid);
    if (startTime === undefined) throw new Error(`${role} in ${netns} exited right after it started`);
    const p = { pid, startTime, netns, role };
    if (this.closed) return kill(p);
    this.addProcess(p);
  }
}

/** Why `gateway` cannot replace `old` on a subnet where the node has `node`, or undefined when it can. */
function gatewayProblem(gateway: string, old: string, node: string): string | undefined {
  let parsed: [ipaddr.IPv4, number];
  try {
    parsed = ipaddr.IPv4.parseCIDR(gateway);
  } catch {
    return "not an IPv4 address/prefix";
  }
  const [oldAddr, len] = ipaddr.IPv4.parseCIDR(old);
  if (parsed[1] !== len || !parsed[0].match(oldAddr, len)) return `not in the subnet of ${old}`;
  const host = parsed[0].toString();
  if (host === hostOf(node)) return "that is the node's address";
  const net = ipaddr.IPv4.networkAddressFromCIDR(gateway).toString();
  const bcast = ipaddr.IPv4.broadcastAddressFromCIDR(gateway).toString();
  if (host === net || host === bcast) return "that is the subnet's network or broadcast address";
  return undefined;
}

/** Why `address` cannot be leased from `range` with the ISP at `gateway`, or undefined when it can. */
function leaseProblem(
  address: string,
  range: readonly [string, string],
  gateway: string,
): string | undefined {
  if (!ipaddr.IPv4.isValidFourPartDecimal(address)) return "not an IPv4 address";
  const num = (a: string): number =>
    ipaddr.IPv4.parse(a)
      .toByteArray()
      .reduce((acc, x) => acc * 256 + x, 0);
  const n = num(address);
  if (n < num(range[0]) || n > num(range[1])) return `outside the range ${range[0]}-${range[1]}`;
  if (address === hostOf(gateway)) return "that is the gateway's address";
  return undefined;
}

/** Take a recorded lab down by id. Labs of other live processes are refused: they tear down their own. */
export async function labDown(id: string): Promise<void> {
  const lab = Lab.open(id);
  if (!lab) throw new Error(`no lab ${JSON.stringify(id)} (see \`backhaul lab status\`)`);
  const owner = lab.owner;
  if (!lab.persistent && owner.pid !== process.pid && isAlive(owner.pid, owner.startTime))
    throw new Error(`lab ${id} belongs to the running process ${owner.pid}; it takes its lab down itself`);
  await lab.down();
}
