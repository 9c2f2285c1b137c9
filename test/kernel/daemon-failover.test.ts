// `backhaul run` in the demo lab: the user stories of failover, on the real kernel. One daemon on the
// demo policy (fast probe profile) lives through carrier loss, recovery, a gray failure and the loss of
// every uplink, while a client behind the hotspot keeps connecting to an ISP target.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  activeDev,
  ClientProbe,
  DaemonProcess,
  demoPolicyIn,
  tempDir,
  type PassLine,
} from "../helpers/daemon.js";
import { cliIn } from "../helpers/cli.js";
import { demoTopology, eventually, LAB_TOOLS, requireKernel, useLab } from "../helpers/kernel.js";

describe.skipIf(!requireKernel(LAB_TOOLS))("backhaul run: failover in the demo lab", () => {
  const lab = useLab(demoTopology());
  const dir = tempDir("bhl-run-failover-");
  let daemon: DaemonProcess;
  let client: ClientProbe;
  const switchTimes: number[] = [];

  let policy: string;

  beforeAll(async () => {
    // A resync every 2 s: the daemon's cache is compared with the kernel all through the failovers.
    // At debug level: the log says when the carrier-loss plans have been made ahead.
    policy = demoPolicyIn(dir.path, (t) =>
      t.replace("  logLevel: info", "  logLevel: debug\n  resyncInterval: 2s"),
    );
    daemon = DaemonProcess.start(lab().node, policy);
    await daemon.started();
    client = ClientProbe.start(lab().client!, "198.51.100.10", 443);
  });
  afterAll(async () => {
    client?.stop();
    await daemon?.stop();
    dir.remove();
  });

  it("starts on fibre, the best uplink, once its probes pass", async () => {
    const s = await daemon.waitFor<PassLine>((l) => (l as PassLine).switch?.to.includes("fibre") === true);
    expect(s.switch).toMatchObject({ from: [], to: ["fibre"], cause: "start" });
    expect(await activeDev(lab().node)).toBe("eth0");
    const now = Date.now();
    expect(await eventually(async () => client.okAfter(now), 3000)).toBe(true);
  });

  it("plan takes its health from the running daemon, and finds nothing to do", async () => {
    const r = await cliIn(lab().node, ["plan", policy, "--detailed-exitcode"]);
    expect(r.stdout).toContain("Uplinks (health from the running daemon):");
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
  });

  it("(a) carrier loss on the active uplink moves traffic to the next at once, by the fast path, with the plan made ahead", async () => {
    // Cut the carrier as soon as the plan for losing it has been made on the latest pass's facts.
    const ahead = await daemon.waitFor(
      (l) => (l["fastPath"] as { ready?: string[] } | undefined)?.ready?.includes("eth0") === true,
      15_000,
      daemon.lines.length,
    );
    const from = daemon.lines.length;
    const cut = Date.now();
    await lab().carrierLoss("eth0");
    const s = await daemon.nextSwitch(from);
    // The plan made ahead is sent, unless a pass came between it and the cut (a resync or a probe's
    // pass plans anew, and the plan for its facts is made only once passes are quiet again).
    const between = daemon.lines
      .slice(daemon.lines.indexOf(ahead) + 1, daemon.lines.indexOf(s))
      .filter((l) => (l as PassLine).pass !== undefined && Date.parse((l as PassLine).pass.startedAt) <= cut);
    const passed = [...between, ...(s.pass.path === "full" ? [s] : [])];
    expect(s.pass.prepared === true || passed.length > 0, JSON.stringify(s.pass)).toBe(true);
    switchTimes.push(s.time);
    expect(s.switch).toMatchObject({ from: ["fibre"], to: ["lte"], cause: "physical" });
    // The fast path, unless a full pass already under way when the carrier went read the loss first
    // (its read came back before the link event did): that pass switches in the same moment.
    const path =
      s.pass.path === "fast" || Date.parse(s.pass.startedAt) <= cut
        ? "fast, or a pass under way"
        : "a later full pass";
    expect(path, JSON.stringify(s.pass)).toBe("fast, or a pass under way");
    expect(await activeDev(lab().node)).toBe("wwan0");
  });

  it("(c) recovery moves traffic back only after the uplink went through Probing and its hold-down", async () => {
    const from = daemon.lines.length;
    const restored = Date.now();
    await lab().carrierReturn("eth0");
    const s = await daemon.nextSwitch(from, 20_000);
    switchTimes.push(s.time);
    expect(s.switch).toMatchObject({ from: ["lte"], to: ["fibre"], cause: "preference" });
    const fibre = daemon.lines
      .slice(from)
      .filter((l) => l["uplink"] === "fibre" && l["to"] !== undefined)
      .map((l) => `${String(l["from"])}→${String(l["to"])}`);
    expect(fibre).toEqual(["down→probing", "probing→up"]);
    const probing = daemon.lines.slice(from).find((l) => l["uplink"] === "fibre" && l["to"] === "up")!;
    // The demo policy holds Probing → Up for 1s.
    expect(probing.time - restored).toBeGreaterThanOrEqual(1000);
    expect(await activeDev(lab().node)).toBe("eth0");
  });

  it("(b) a gray failure with carrier up moves traffic once the probe thresholds are crossed", async () => {
    const from = daemon.lines.length;
    await lab().grayFailure("eth0");
    const s = await daemon.nextSwitch(from, 20_000);
    switchTimes.push(s.time);
    expect(s.switch).toMatchObject({ from: ["fibre"], to: ["lte"], cause: "health" });
    expect(await activeDev(lab().node)).toBe("wwan0");
    // Its state follows the thresholds and hold-downs: Degraded first, then Down.
    await daemon.waitFor((l) => l["uplink"] === "fibre" && l["to"] === "down", 10_000, from);
    const fibre = daemon.lines
      .slice(from)
      .filter((l) => l["uplink"] === "fibre" && l["to"] !== undefined)
      .map((l) => String(l["to"]));
    expect(fibre).toEqual(["degraded", "down"]);
    const back = daemon.lines.length;
    await lab().heal("eth0");
    switchTimes.push((await daemon.nextSwitch(back, 20_000)).time);
    expect(await activeDev(lab().node)).toBe("eth0");
  });

  it("(h) the hotspot client reaches the ISP target again after every switch", async () => {
    for (const t of switchTimes) expect(await eventually(async () => client.okAfter(t), 3000)).toBe(true);
    // The gap each switch cost the client, for the record (the benchmark measures it properly).
    const gaps = switchTimes.map((t) => client.longestGapMs(t - 3000, t + 2000));
    console.log(`client connection gaps around the switches (ms): ${gaps.join(", ")}`);
    expect(client.attempts.filter((a) => a.ok).length).toBeGreaterThan(0);
  });

  it("(d) with every uplink down it keeps the last default route (policy: keep-last)", async () => {
    const from = daemon.lines.length;
    await lab().carrierLoss("eth0");
    await daemon.nextSwitch(from);
    const second = daemon.lines.length;
    await lab().carrierLoss("wwan0");
    const warned = await daemon.waitFor((l) => l.msg.startsWith("no usable uplink"), 15_000, second);
    expect(warned.msg).toContain("keeping the last default route");
    // Nothing better exists: the last route stays, and no switch happened.
    expect(daemon.switches(second)).toEqual([]);
    expect(await activeDev(lab().node)).toBe("wwan0");
    const healed = daemon.lines.length;
    await lab().carrierReturn("eth0");
    await lab().carrierReturn("wwan0");
    const back = await daemon.waitFor<PassLine>(
      (l) => (l as PassLine).switch?.to.includes("fibre") === true,
      20_000,
      healed,
    );
    expect(back.switch?.to).toEqual(["fibre"]);
  });

  it("no resync found the observed-state cache disagreeing with the kernel, through every failover", () => {
    expect(daemon.lines.filter((l) => l["cacheMismatch"] !== undefined)).toEqual([]);
  });
});
