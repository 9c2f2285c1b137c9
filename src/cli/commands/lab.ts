// `backhaul lab up | down | status`: the namespace lab for people (demo, trying things by hand).
// Labs brought up here are persistent: they outlive this command until `backhaul lab down`.
import type { Command } from "commander";
import { relative } from "node:path";
import { Lab, labDown, removeStaleLabs } from "../../lab/lab.js";
import { listLabRecords } from "../../lab/registry.js";
import { labStatus, type LabStatus } from "../../lab/status.js";
import { DEMO_TOPOLOGY_FILE, hostOf, loadTopology, type Topology } from "../../lab/topology.js";

function requireRoot(): void {
  if (process.getuid?.() !== 0) throw new Error("backhaul lab needs root: it creates network namespaces");
}

function shown(file: string): string {
  const rel = relative(process.cwd(), file);
  return rel.startsWith("..") ? file : rel;
}

function usage(lab: Lab, t: Topology, ms: number, source: string): string {
  const pad = (s: string, n: number): string => s.padEnd(n);
  const lines = [
    `lab ${lab.id} is up (${(ms / 1000).toFixed(2)} s), topology ${shown(source)}`,
    "",
    "namespaces",
  ];
  const width = Math.max(...lab.namespaces.map((n) => n.length)) + 2;
  lines.push(
    `  ${pad(lab.node, width)}the node: ${[...t.uplinks.map((u) => u.iface), ...(t.client ? [t.client.iface] : [])].join(", ")}`,
  );
  for (const u of t.uplinks) {
    const addr =
      u.addressing.mode === "external"
        ? `node address ${u.addressing.address} (assigned by the lab)`
        : `DHCP ${u.addressing.range.join("-")} (the node's MAC is leased ${hostOf(u.addressing.address)})`;
    lines.push(`  ${pad(lab.isp(u.iface), width)}ISP of ${u.iface}: gateway ${hostOf(u.gateway)}, ${addr}`);
  }
  if (t.client && lab.client)
    lines.push(
      `  ${pad(lab.client, width)}hotspot client ${t.client.address} behind the node's ${t.client.iface}`,
    );
  const targets = t.internet.targets.flatMap((x) => [
    ...x.tcp.map((p) => `tcp://${x.address}:${p}`),
    ...x.http.map((p) => `http://${x.address}${p === 80 ? "" : `:${p}`}/generate_204`),
  ]);
  lines.push("", `probe targets (hosted by every ISP): ${targets.join(" ")}`, "", "use it");
  const cmd = (c: string, why: string): string => `  ${c.padEnd(58)}# ${why}`;
  lines.push(cmd(`ip netns exec ${lab.node} backhaul show`, "what the node's kernel holds"));
  lines.push(cmd(`backhaul show --netns ${lab.node}`, "the same, from outside"));
  lines.push(cmd(`ip netns exec ${lab.node} bash`, "a shell on the node"));
  if (t.client && lab.client) {
    const gw = t.client.nodeAddress ? hostOf(t.client.nodeAddress) : hostOf(t.client.address);
    lines.push(cmd(`ip netns exec ${lab.client} ping ${gw}`, "the client reaches the node"));
  }
  lines.push(cmd("backhaul lab status", "labs, namespaces, uplinks"));
  lines.push(cmd(`backhaul lab down ${lab.id}`, "remove it"));
  return `${lines.join("\n")}\n`;
}

function formatStatus(labs: readonly LabStatus[]): string {
  if (labs.length === 0) return "no labs\n";
  const out: string[] = [];
  for (const l of labs) {
    const owner = l.persistent
      ? "persistent"
      : `owned by pid ${l.ownerPid}${l.ownerAlive ? "" : " (dead: stale)"}`;
    out.push(`lab ${l.id}  ${owner}  created ${l.createdAt}${l.source ? `  ${shown(l.source)}` : ""}`);
    const missing = l.namespaces.filter((n) => !n.present).map((n) => n.name);
    out.push(
      `  namespaces: ${l.namespaces.map((n) => n.name).join(" ")}${missing.length ? `  MISSING: ${missing.join(" ")}` : ""}`,
    );
    const stopped = l.processes.filter((p) => !p.running).map((p) => `${p.role}(${p.pid})`);
    out.push(
      `  processes: ${l.processes.length} tracked${stopped.length ? `, not running: ${stopped.join(" ")}` : ""}`,
    );
    out.push("  uplink  isp namespace                 gateway        addressing  carrier  addresses");
    for (const u of l.uplinks) {
      const carrier = !u.present ? "absent" : u.carrier ? "up" : "down";
      out.push(
        `  ${u.iface.padEnd(7)} ${u.isp.padEnd(29)} ${hostOf(u.gateway).padEnd(14)} ${u.addressing.padEnd(11)} ${carrier.padEnd(8)} ${u.addresses.join(" ") || "-"}`,
      );
    }
    if (l.client) out.push(`  client: ${l.client.namespace} ${l.client.address} behind ${l.client.iface}`);
  }
  return `${out.join("\n")}\n`;
}

export function registerLab(program: Command): void {
  const lab = program
    .command("lab")
    .description("a lab of network namespaces to run backhaul in (needs root)");

  lab
    .command("up")
    .description("bring a lab up; it stays until `backhaul lab down`")
    .option("--topology <file>", "topology file", DEMO_TOPOLOGY_FILE)
    .option("--json", "print the lab as JSON")
    .action(async (opts: { topology: string; json?: boolean }) => {
      requireRoot();
      const topology = loadTopology(opts.topology);
      const t0 = performance.now();
      const l = await Lab.up(topology, { persistent: true, source: opts.topology });
      const ms = performance.now() - t0;
      if (opts.json) {
        const record = listLabRecords().find((r) => r.id === l.id);
        process.stdout.write(`${JSON.stringify({ ...record, upMs: Math.round(ms) }, null, 2)}\n`);
      } else process.stdout.write(usage(l, topology, ms, opts.topology));
    });

  lab
    .command("down")
    .description("take a lab down; without ID, every persistent lab and every stale one")
    .argument("[id]", "lab id (see `backhaul lab status`)")
    .action(async (id: string | undefined) => {
      requireRoot();
      if (id !== undefined) {
        await labDown(id);
        process.stdout.write(`lab ${id} is down\n`);
        return;
      }
      for (const r of listLabRecords().filter((x) => x.persistent)) {
        await labDown(r.id);
        process.stdout.write(`lab ${r.id} is down\n`);
      }
      for (const stale of await removeStaleLabs()) process.stdout.write(`stale lab ${stale} removed\n`);
      const others = listLabRecords();
      for (const r of others)
        process.stdout.write(`lab ${r.id} left alone: it belongs to the running process ${r.owner.pid}\n`);
    });

  lab
    .command("status")
    .description("the labs on this machine, their namespaces and uplinks")
    .option("--json", "as JSON")
    .action(async (opts: { json?: boolean }) => {
      const labs = await labStatus();
      process.stdout.write(opts.json ? `${JSON.stringify(labs, null, 2)}\n` : formatStatus(labs));
    });
}
