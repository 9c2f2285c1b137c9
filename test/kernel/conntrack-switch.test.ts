// Connection tracking follows a switch, on the real kernel: a hotspot client holds a TCP flow NAT'ed out
// of fibre; fibre loses carrier and the daemon moves general traffic to LTE; the client's fibre flows
// are deleted (so its dead connection is reset at once instead of hanging until a timeout) while the
// entry of the node's own flow bound to fibre's address stays; a new connection goes out by LTE and its
// flows stay until traffic moves back to fibre, when they go and the node's own flow on LTE goes on.
import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { observe } from "../../src/effects/observe.js";
import { run } from "../../src/effects/exec.js";
import { executeOps } from "../../src/effects/apply/execute.js";
import { activeDev, DaemonProcess, demoPolicyIn, tempDir, type PassLine } from "../helpers/daemon.js";
import { demoTopology, eventually, ipJson, LAB_TOOLS, requireKernel, useLab } from "../helpers/kernel.js";

const TARGET = "198.51.100.10";
const PORT = 7000;

// Holds every connection open and echoes what it gets (the lab's probe targets close at once).
const ECHO_SERVER = `
const [host, port] = process.argv.slice(1);
require("node:net")
  .createServer((s) => { s.on("error", () => {}); s.on("data", (d) => s.write(d)); })
  .listen(Number(port), host, () => console.log("ready"));`;

// Connects (from `bind` when given, "-" for none) and writes once; "steady" writes every 200 ms after,
// "idle" only on SIGUSR1. Says "connected", "echo" and how it ended.
const FLOW_CLIENT = `
const [host, port, bind, mode] = process.argv.slice(1);
const s = require("node:net").connect({ host, port: Number(port), ...(bind !== "-" ? { localAddress: bind } : {}) });
let timer;
s.on("connect", () => {
  console.log("connected " + s.localPort);
  s.write("x");
  if (mode === "steady") timer = setInterval(() => s.write("x"), 200);
});
process.on("SIGUSR1", () => s.write("x"));
s.on("data", () => console.log("echo"));
s.on("error", (e) => console.log("error " + e.code));
s.on("close", () => { clearInterval(timer); console.log("closed"); });`;

class Proc {
  readonly lines: string[] = [];
  constructor(readonly child: ChildProcess) {
    createInterface({ input: child.stdout! }).on("line", (l) => this.lines.push(l));
  }
  static node(netns: string, script: string, args: readonly string[]): Proc {
    return new Proc(
      spawn("ip", ["netns", "exec", netns, process.execPath, "-e", script, ...args], {
        stdio: ["ignore", "pipe", "ignore"],
      }),
    );
  }
  has(prefix: string, from = 0): boolean {
    return this.lines.slice(from).some((l) => l.startsWith(prefix));
  }
  async waitFor(prefix: string, timeoutMs = 5000, from = 0): Promise<boolean> {
    return eventually(async () => this.has(prefix, from), timeoutMs);
  }
  /** Make an idle flow send one segment. */
  poke(): void {
    this.child.kill("SIGUSR1");
  }
  stop(): void {
    if (this.child.exitCode === null) this.child.kill("SIGKILL");
  }
}

/** The node's conntrack entries of TCP port PORT: original source and reply destination of each. */
async function entries(netns: string): Promise<{ src: string; replyDst: string }[]> {
  const r = await run(["conntrack", "-L", "-p", "tcp", "--dport", String(PORT)], { netns });
  return r.stdout
    .split("\n")
    .filter((l) => l.includes("src="))
    .map((l) => {
      const src = [...l.matchAll(/src=(\S+)/g)].map((m) => m[1]!);
      const dst = [...l.matchAll(/dst=(\S+)/g)].map((m) => m[1]!);
      return { src: src[0]!, replyDst: dst[1]! };
    });
}

async function addressOf(netns: string, dev: string): Promise<string> {
  const a = await ipJson<{ addr_info: { family: string; local: string }[] }[]>(netns, [
    "-4",
    "address",
    "show",
    "dev",
    dev,
  ]);
  return a[0]!.addr_info.find((x) => x.family === "inet")!.local;
}

describe.skipIf(!requireKernel([...LAB_TOOLS, "nft", "conntrack"]))(
  "connection tracking after a switch, in the demo lab",
  () => {
    const lab = useLab(demoTopology());
    const dir = tempDir("bhl-conntrack-");
    const procs: Proc[] = [];
    let daemon: DaemonProcess;
    let fibre: string;
    let lte: string;
    let clientAddr: string;
    let first: Proc;
    let own: Proc;
    let second: Proc;
    let ownLte: Proc;
    const start = (p: Proc): Proc => (procs.push(p), p);

    beforeAll(async () => {
      for (const iface of ["eth0", "wwan0"]) {
        const server = start(Proc.node(lab().isp(iface), ECHO_SERVER, [TARGET, String(PORT)]));
        expect(await server.waitFor("ready")).toBe(true);
      }
      fibre = await addressOf(lab().node, "eth0");
      lte = await addressOf(lab().node, "wwan0");
      clientAddr = lab().topology.client!.address.split("/")[0]!;
      daemon = DaemonProcess.start(lab().node, demoPolicyIn(dir.path));
      await daemon.started();
      await daemon.waitFor<PassLine>((l) => (l as PassLine).switch?.to.includes("fibre") === true);
    });
    afterAll(async () => {
      for (const p of procs) p.stop();
      await daemon?.stop();
      dir.remove();
    });

    it("a hotspot client's flow is NAT'ed out of fibre, and backhaul sees it as fibre's", async () => {
      first = start(Proc.node(lab().client!, FLOW_CLIENT, [TARGET, String(PORT), "-", "idle"]));
      expect(await first.waitFor("echo")).toBe(true);
      own = start(Proc.node(lab().node, FLOW_CLIENT, [TARGET, String(PORT), fibre, "steady"]));
      expect(await own.waitFor("echo")).toBe(true);
      expect(await entries(lab().node)).toContainEqual({ src: clientAddr, replyDst: fibre });
      const seen = (await observe({ netns: lab().node, kinds: ["conntrack"] })).conntrack;
      expect(seen).toContainEqual(
        expect.objectContaining({ source: clientAddr, address: fibre, iface: "eth0" }),
      );
      // The node's own flow, bound to fibre's address, is not translated: not a NAT flow.
      expect(seen.some((f) => f.source === fibre)).toBe(false);
    });

    it("when fibre loses carrier and traffic moves to LTE, the client's fibre flows are deleted and its connection reset at once", async () => {
      const from = daemon.lines.length;
      const mark = first.lines.length;
      await lab().carrierLoss("eth0");
      const s = await daemon.nextSwitch(from);
      expect(s.switch).toMatchObject({ from: ["fibre"], to: ["lte"] });
      expect(await activeDev(lab().node)).toBe("wwan0");
      // The flow is idle: nothing of its own makes the kernel drop it (the kernel forgets a masqueraded
      // flow only when its next packet leaves by another interface, and drops that packet).
      const gone = async () =>
        !(await entries(lab().node)).some((e) => e.src === clientAddr && e.replyDst === fibre);
      expect(await eventually(gone, 5000)).toBe(true);
      // Its next segment leaves by LTE under a new NAT binding, and LTE's side resets it at once.
      first.poke();
      expect(await first.waitFor("closed", 5000, mark)).toBe(true);
      expect(first.has("error ECONNRESET", mark)).toBe(true);
    });

    it("keeps the entry of the node's own flow bound to fibre's address", async () => {
      expect(await entries(lab().node)).toContainEqual({ src: fibre, replyDst: fibre });
    });

    it("a new connection of the client goes out by LTE, and its flows stay while LTE carries traffic", async () => {
      second = start(Proc.node(lab().client!, FLOW_CLIENT, [TARGET, String(PORT), "-", "idle"]));
      expect(await second.waitFor("echo")).toBe(true);
      expect(await entries(lab().node)).toContainEqual({ src: clientAddr, replyDst: lte });
      // Two seconds of probe rounds later (every 250 ms) the flow is still there and still echoes.
      const mark = second.lines.length;
      await new Promise((r) => setTimeout(r, 2000));
      expect(await entries(lab().node)).toContainEqual({ src: clientAddr, replyDst: lte });
      second.poke();
      expect(await second.waitFor("echo", 3000, mark)).toBe(true);
      expect(second.has("closed")).toBe(false);
    });

    it("when traffic moves back to fibre, LTE's flows go in turn, and the node's own flow on LTE goes on", async () => {
      ownLte = start(Proc.node(lab().node, FLOW_CLIENT, [TARGET, String(PORT), lte, "steady"]));
      expect(await ownLte.waitFor("echo")).toBe(true);
      const from = daemon.lines.length;
      const mark = second.lines.length;
      await lab().carrierReturn("eth0");
      const s = await daemon.nextSwitch(from, 20_000);
      expect(s.switch).toMatchObject({ from: ["lte"], to: ["fibre"] });
      const gone = async () =>
        !(await entries(lab().node)).some((e) => e.src === clientAddr && e.replyDst === lte);
      expect(await eventually(gone, 5000)).toBe(true);
      second.poke();
      expect(await second.waitFor("closed", 5000, mark)).toBe(true);
      const still = ownLte.lines.length;
      expect(await ownLte.waitFor("echo", 3000, still)).toBe(true);
      expect(ownLte.has("closed")).toBe(false);
      expect(await entries(lab().node)).toContainEqual({ src: lte, replyDst: lte });
    });

    it("a delete of flows that have already ended succeeds: nothing to delete is no failure", async () => {
      const ended = {
        kind: "conntrack" as const,
        family: 4 as const,
        address: fibre,
        source: "100.64.50.99",
        iface: "eth0",
        flows: 1,
      };
      const r = await executeOps([{ op: "delete", before: ended }], { netns: lab().node });
      expect(r).toMatchObject({ ok: true, executed: 1 });
    });
  },
);
