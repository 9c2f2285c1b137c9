// The demo's story (scripts/demo.sh runs it after setting the machine up): the daemon keeps a node of
// the demo lab online while its uplinks fail, and its hotspot serves a local client while every uplink
// is gone and shares fibre once it is back. Everything happens inside lab namespaces; the lab and the
// daemon are removed at the end, also on Ctrl-C.
//
// An independent `ip -ts monitor` in the node's namespace timestamps the kernel's own events, so the
// times printed are the kernel's: from the link event (or the injected fault) to the route replaced.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { observe } from "../src/effects/observe.js";
import { Lab } from "../src/lab/lab.js";
import { loadTopology } from "../src/lab/topology.js";

const CLI = ["dist/cli/main.js"];
const POLICY = "examples/lab-demo.yaml";
const TOPOLOGY = "examples/lab/demo-topology.yaml";
/** The demo policy's daemon.stateDir. */
const STATE_DIR = "/run/backhaul-lab";

const bold = (s: string) => (process.stdout.isTTY ? `\u001b[1m${s}\u001b[0m` : s);
const step = (s: string) => process.stdout.write(`\n${bold(`== ${s}`)}\n`);
const say = (s: string) => process.stdout.write(`${s}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface LogLine {
  readonly time: number;
  readonly msg: string;
  readonly level: number;
  readonly switch?: { from: string[]; to: string[]; cause: string; reason: string };
  readonly pass?: { path: string; writtenAfterMs?: number };
  readonly [k: string]: unknown;
}

/** The daemon's JSON log, kept and echoed in a few words as it comes. */
class Daemon {
  readonly lines: LogLine[] = [];
  private waiters: (() => void)[] = [];
  constructor(readonly child: ChildProcess) {
    createInterface({ input: child.stdout! }).on("line", (l) => {
      let j: LogLine;
      try {
        j = JSON.parse(l) as LogLine;
      } catch {
        say(`  daemon: ${l}`);
        return;
      }
      this.lines.push(j);
      if (j["uplink"] !== undefined && j["to"] !== undefined) say(`  daemon: ${j.msg}`);
      else if (j.switch !== undefined) say(`  daemon: ${j.msg.replace(/ \(score [^)]*\)/, "")}`);
      else if (j.level >= 40 || j["hotspot"] !== undefined) say(`  daemon: ${j.msg}`);
      for (const w of this.waiters.splice(0)) w();
    });
    child.stderr!.on("data", (d: Buffer) => process.stderr.write(d));
  }
  async waitFor(pred: (l: LogLine) => boolean, from: number, timeoutMs = 15_000): Promise<LogLine> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.lines.slice(from).find(pred);
      if (hit !== undefined) return hit;
      if (Date.now() > end)
        throw new Error("the daemon did not do what the demo waited for (see its log above)");
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 200);
      });
    }
  }
}

/** Kernel events of the node, with ip's own timestamps (UTC). */
class KernelClock {
  readonly events: { at: number; text: string }[] = [];
  constructor(readonly child: ChildProcess) {
    createInterface({ input: child.stdout! }).on("line", (l) => {
      const m = /^\[(\d{4}-\d\d-\d\dT[\d:.]+)\]\s*(.*)$/.exec(l);
      if (m) this.events.push({ at: Date.parse(`${m[1]}Z`), text: m[2]! });
    });
  }
  /** The first event at or after `since` whose text matches. */
  first(re: RegExp, since: number): number | undefined {
    return this.events.find((e) => e.at >= since - 5 && re.test(e.text))?.at;
  }
}

/** The demo policy's state directory keeps files per namespace (lock, journal, ledger...): drop this lab's. */
function forgetNamespace(node: string): void {
  const dirs = [
    STATE_DIR,
    ...readdirSync(STATE_DIR, { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => join(STATE_DIR, d.name)),
  ];
  for (const dir of dirs)
    for (const f of readdirSync(dir))
      if (f.includes(node)) rmSync(join(dir, f), { recursive: true, force: true });
}

/** Run in the client's namespace: connect to HOST PORT, print "connected" or why not. */
const CONNECT = `const s = require("node:net").connect({ host: process.argv[1], port: Number(process.argv[2]) });
s.on("connect", () => { console.log("connected"); process.exit(0); });
s.on("error", (e) => { console.log(e.code); process.exit(1); });
setTimeout(() => { console.log("timeout"); process.exit(1); }, 3000);`;

const cli = (args: string[]) => spawnSync(process.execPath, [...CLI, ...args], { stdio: "inherit" });

async function main(): Promise<void> {
  step("bring up the demo lab: a node with eth0 (fibre), wwan0 (LTE), usb0 (phone) and a hotspot client");
  const lab = await Lab.up(loadTopology(TOPOLOGY));
  const node = lab.node;
  let daemon: Daemon | undefined;
  let clock: KernelClock | undefined;
  // Whatever happens, the daemon and the observer go before the lab (the lab removes itself on signals).
  const stopChildren = () => {
    daemon?.child.kill("SIGKILL");
    clock?.child.kill("SIGKILL");
  };
  process.once("exit", stopChildren);
  process.once("SIGINT", stopChildren);
  process.once("SIGTERM", stopChildren);
  const results: string[] = [];
  try {
    say(`lab ${lab.id}: namespaces ${lab.namespaces.join(", ")}`);
    step("what the daemon will do first: the plan for the demo policy (health assumed, nothing changed)");
    cli(["plan", POLICY, "--netns", node, "--assume-health", "up"]);

    clock = new KernelClock(
      spawn("ip", ["netns", "exec", node, "ip", "-ts", "monitor", "link", "route"], {
        env: { ...process.env, TZ: "UTC" },
        stdio: ["ignore", "pipe", "ignore"],
      }),
    );
    step(`start the daemon: backhaul run ${POLICY} --netns ${node}`);
    daemon = new Daemon(
      spawn(process.execPath, [...CLI, "run", POLICY, "--netns", node], {
        stdio: ["ignore", "pipe", "pipe"],
      }),
    );
    await daemon.waitFor((l) => l["uplink"] === "fibre" && l["to"] === "up", 0, 20_000);
    await daemon.waitFor((l) => l["uplink"] === "lte" && l["to"] === "up", 0, 20_000);
    // The phone's address comes from backhaul's own DHCP client; its probes then pass through it.
    await daemon.waitFor((l) => l["uplink"] === "phone" && l["to"] === "up", 0, 20_000);
    step(`the phone's lease, taken by backhaul's DHCP client: backhaul show --netns ${node}`);
    cli(["show", "--netns", node, "--state-dir", STATE_DIR]);
    await sleep(300);
    step(`live status: backhaul status ${POLICY} --netns ${node}`);
    cli(["status", POLICY, "--netns", node]);

    step("break the active uplink: fibre loses carrier (its ISP's end goes down)");
    let mark = daemon.lines.length;
    let t0 = Date.now();
    await lab.carrierLoss("eth0");
    let s = await daemon.waitFor((l) => l.switch !== undefined, mark);
    const linkAt = clock.first(/eth0.*NO-CARRIER/, t0);
    const routeAt = clock.first(/table 100/, linkAt ?? t0);
    const took =
      linkAt !== undefined && routeAt !== undefined
        ? `${(routeAt - linkAt).toFixed(1)} ms from the kernel's link event to the route replaced`
        : `${s.time - t0} ms`;
    results.push(
      `carrier loss on fibre → ${s.switch!.to.join("+")} (${s.switch!.cause}, ${s.pass?.path} path): ${took}`,
    );
    say(`  => ${results.at(-1)}`);

    step(
      "gray-fail the next one: LTE's ISP silently drops everything, carrier stays up; only the phone is left",
    );
    mark = daemon.lines.length;
    t0 = Date.now();
    await lab.grayFailure("wwan0");
    s = await daemon.waitFor((l) => l.switch?.to.includes("phone") === true, mark, 20_000);
    results.push(
      `gray failure on lte → ${s.switch!.to.join("+")} (${s.switch!.cause}) after ${s.time - t0} ms: ` +
        "the phone, emergency-only, carries traffic once fibre and LTE are both gone",
    );
    say(`  => ${results.at(-1)}`);
    cli(["status", POLICY, "--netns", node]);

    step("the phone goes too: every uplink is gone, and the hotspot keeps serving local clients");
    mark = daemon.lines.length;
    await lab.carrierLoss("usb0");
    await daemon.waitFor((l) => l["uplink"] === "phone" && l["to"] === "down", mark, 20_000);
    const ap = (await observe({ netns: node, stateDir: STATE_DIR })).hostapd[0];
    results.push(
      `every uplink gone → the hotspot's access point (hostapd) is ${ap?.state ?? "not running"} on wlan0`,
    );
    say(`  => ${results.at(-1)}`);
    step("the hotspot client asks for an address: backhaul's own dnsmasq on wlan0 answers");
    const client = lab.topology.client!;
    const dhcp = spawnSync(
      "ip",
      [
        "netns",
        "exec",
        lab.client!,
        "busybox",
        "udhcpc",
        "-f",
        "-q",
        "-n",
        "-t",
        "4",
        "-T",
        "1",
        "-i",
        client.peer,
        "-s",
        "/bin/true",
      ],
      { encoding: "utf8", timeout: 15_000 },
    );
    const leased = /lease of ([\d.]+) obtained from ([\d.]+)/.exec(`${dhcp.stdout}${dhcp.stderr}`);
    results.push(
      leased === null
        ? "the hotspot client got no lease from backhaul's dnsmasq"
        : `the hotspot client got ${leased[1]} from backhaul's dnsmasq on ${leased[2]}`,
    );
    say(`  => ${results.at(-1)}`);
    step("heal: fibre's carrier returns, LTE's ISP forwards again, the phone is plugged back");
    mark = daemon.lines.length;
    t0 = Date.now();
    await lab.carrierReturn("eth0");
    await lab.heal("wwan0");
    await lab.carrierReturn("usb0");
    s = await daemon.waitFor((l) => l.switch?.to.includes("fibre") === true, mark, 20_000);
    const backAt = clock.first(/table 100/, t0);
    results.push(
      `recovery → ${s.switch!.to.join("+")} (${s.switch!.cause}) ${(backAt ?? s.time) - t0} ms after healing, ` +
        `having gone through Probing and its hold-down`,
    );
    say(`  => ${results.at(-1)}`);
    await daemon.waitFor((l) => l["uplink"] === "lte" && l["to"] === "up", mark, 20_000);
    step("the hotspot client reaches the ISP's target through the node (NAT out of fibre)");
    const reach = spawnSync(
      "ip",
      ["netns", "exec", lab.client!, process.execPath, "-e", CONNECT, "198.51.100.10", "443"],
      { encoding: "utf8", timeout: 10_000 },
    );
    const flows = (await observe({ netns: node, stateDir: STATE_DIR })).conntrack.filter(
      (f) => f.source === lab.topology.client!.address.split("/")[0],
    );
    results.push(
      `the hotspot client's connection to 198.51.100.10:443: ${reach.stdout.trim() || "no answer"}` +
        (flows.length > 0 ? `, translated to ${flows[0]!.address} out of ${flows[0]!.iface}` : ""),
    );
    say(`  => ${results.at(-1)}`);
    step("live status after healing");
    cli(["status", POLICY, "--netns", node]);

    step("stop the daemon (SIGTERM): it finishes its pass and leaves the kernel as it is");
    const exited = new Promise((r) => daemon!.child.once("exit", r));
    daemon.child.kill("SIGTERM");
    await exited;
  } finally {
    stopChildren();
    step("tear the lab down");
    await lab.down();
    forgetNamespace(node);
  }
  step("what happened");
  for (const r of results) say(`  - ${r}`);
}

await main();
