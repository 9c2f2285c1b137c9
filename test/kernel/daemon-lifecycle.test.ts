// `backhaul run` in the demo lab: the daemon's life around the failovers. Policy edits on disk (valid
// and invalid), the switch limit under a flapping link, SIGKILL (also in the middle of an apply) and
// restart, SIGTERM with and without --cleanup-on-exit.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { run } from "../../src/effects/exec.js";
import {
  activeDev,
  ClientProbe,
  DaemonProcess,
  demoPolicyIn,
  killServicesIn,
  tempDir,
} from "../helpers/daemon.js";
import { demoTopology, eventually, ipJson, LAB_TOOLS, requireKernel, useLab } from "../helpers/kernel.js";

const sysctl = async (netns: string, name: string): Promise<string> =>
  (await run(["sysctl", "-n", name], { netns })).stdout.trim();

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Fibre is up and carries general traffic (a daemon started on a node already on fibre logs no switch). */
async function onFibre(d: DaemonProcess, netns: string): Promise<void> {
  await d.waitFor((l) => l["uplink"] === "fibre" && l["to"] === "up", 20_000);
  expect(await eventually(async () => (await activeDev(netns)) === "eth0", 5000)).toBe(true);
}

describe.skipIf(!requireKernel(LAB_TOOLS))("backhaul run: its life in the demo lab", () => {
  const lab = useLab(demoTopology());
  const dir = tempDir("bhl-run-life-");
  const running: DaemonProcess[] = [];
  const start = (policy: string, args: string[] = [], env: Record<string, string> = {}) => {
    const d = DaemonProcess.start(lab().node, policy, args, env);
    running.push(d);
    return d;
  };
  afterEach(async () => {
    for (const d of running.splice(0)) await d.stop("SIGKILL");
    await killServicesIn(lab().node);
  });
  afterAll(() => dir.remove());

  it("(f) applies a valid policy edit within a second, and keeps the last good policy on an invalid one", async () => {
    const policy = demoPolicyIn(join(dir.path, "f"), (t) => t);
    const d = start(policy);
    await d.started();
    await onFibre(d, lab().node);
    expect(await sysctl(lab().node, "net.ipv4.conf.eth0.rp_filter")).toBe("2");

    const edited = Date.now();
    const text = readFileSync(policy, "utf8");
    writeFileSync(policy, text.replace("  protocol: 201\n", "  protocol: 201\n  rpFilter: strict\n"));
    expect(
      await eventually(async () => (await sysctl(lab().node, "net.ipv4.conf.eth0.rp_filter")) === "1", 5000),
    ).toBe(true);
    console.log(`policy edit applied after ${Date.now() - edited} ms`);
    expect((await d.waitFor((l) => l.msg === "policy reloaded")).msg).toBe("policy reloaded");

    const mark = d.lines.length;
    const bad = readFileSync(policy, "utf8").replace("switchMargin: 25", "switchMargin: lots");
    writeFileSync(policy, bad);
    const refused = await d.waitFor((l) => l.msg.startsWith("policy edit refused"), 5000, mark);
    const line = bad.split("\n").findIndex((l) => l.includes("switchMargin: lots")) + 1;
    expect(refused.msg).toContain(`${policy}:${line}:`);
    // The last good policy stays in force: nothing changed in the kernel.
    await sleep(500);
    expect(await sysctl(lab().node, "net.ipv4.conf.eth0.rp_filter")).toBe("1");
    expect(await activeDev(lab().node)).toBe("eth0");
  });

  it("(e) a flapping link makes no more switches than the hold-downs and the policy's limit allow", async () => {
    const policy = demoPolicyIn(join(dir.path, "e"), (t) =>
      t.replace("switches: 20\n    window: 1m", "switches: 2\n    window: 1m"),
    );
    const d = start(policy);
    await d.started();
    await onFibre(d, lab().node);
    await d.waitFor((l) => l["uplink"] === "lte" && l["to"] === "up");
    const begin = d.lines.length;
    // Fast flaps: fibre never gets back to Up in between, so traffic leaves it once and stays away.
    for (let i = 0; i < 6; i++) {
      await lab().carrierLoss("eth0");
      await sleep(150);
      await lab().carrierReturn("eth0");
      await sleep(150);
    }
    // Away from fibre once: by its carrier (the fast path), or by its failed probes when a transaction
    // was in flight as the carrier went (the fast path then leaves the decision to the next pass,
    // which may find the carrier back already).
    const causes = () => d.switches(begin).map((s) => s.switch?.cause);
    expect(causes()).toHaveLength(1);
    expect(["physical", "health"]).toContain(causes()[0]);
    // Fibre recovers: going back to it is the second switch in the window, within the limit.
    const back = await d.nextSwitch(d.lines.indexOf(d.switches(begin)[0]!) + 1, 20_000);
    expect(back.switch).toMatchObject({ to: ["fibre"], cause: "preference" });
    // It fails again (a forced switch always goes ahead) and recovers again: now the limit holds
    // traffic on LTE although fibre is up.
    const again = d.lines.length;
    await lab().carrierLoss("eth0");
    await d.nextSwitch(again);
    await lab().carrierReturn("eth0");
    await d.waitFor((l) => l["uplink"] === "fibre" && l["to"] === "up", 15_000, again);
    await sleep(1000);
    expect(await activeDev(lab().node)).toBe("wwan0");
    expect(causes().slice(1)).toEqual(["preference", "physical"]);
  });

  it("(g) killed and restarted, it resumes without a blackhole; killed mid-apply, it recovers the journal", async () => {
    const policy = demoPolicyIn(join(dir.path, "g"), (t) => t.replace("logLevel: info", "logLevel: debug"));
    const go = join(dir.path, "g", "go");
    // First life: killed while its first apply (two tables to fill again) is paused after one op.
    for (const table of ["101", "102"])
      await run(["ip", "route", "flush", "table", table], { netns: lab().node, allowFailure: true });
    const first = start(policy, [], { BACKHAUL_FAULT: `pause-at:1:${go}` });
    await first.waitFor((l) => l.msg.startsWith("fault hook: paused"), 30_000);
    await first.stop("SIGKILL");
    const second = start(policy);
    const recovered = await second.waitFor((l) => l.msg.startsWith("recovered an unfinished apply"), 30_000);
    expect(recovered["executed"]).toBe(1);
    await onFibre(second, lab().node);
    // Killed while idle (a kill during an apply is the journal's case above).
    await second.waitFor((l) => l.msg === "pass: no change", 10_000, second.lines.length);
    const client = ClientProbe.start(lab().client!, "198.51.100.10", 443);
    try {
      // Killed while fibre carries traffic: the kernel keeps routing, with no daemon at all.
      await second.stop("SIGKILL");
      const killed = Date.now();
      const devs: (string | undefined)[] = [];
      const third = start(policy);
      const watching = (async () => {
        while (third.lines.every((l) => l.msg !== "backhaul run: started")) {
          devs.push(await activeDev(lab().node));
          await sleep(20);
        }
      })();
      await third.started();
      await watching;
      await third.waitFor((l) => l["uplink"] === "fibre" && l["to"] === "up");
      await sleep(500);
      expect(devs.filter((x) => x !== "eth0")).toEqual([]);
      expect(await activeDev(lab().node)).toBe("eth0");
      expect(third.lines.some((l) => l.msg.startsWith("took over the lock"))).toBe(true);
      // Fibre kept traffic through the restart: no switch away and back while the probes came in.
      expect(third.switches()).toEqual([]);
      expect(await eventually(async () => client.okAfter(killed), 3000)).toBe(true);
      expect(client.longestGapMs(killed, Date.now())).toBe(0);
    } finally {
      client.stop();
    }
  });

  it("SIGTERM leaves the kernel as it is; --cleanup-on-exit removes what is ours", async () => {
    const policy = demoPolicyIn(join(dir.path, "t"));
    const d = start(policy);
    await d.started();
    await onFibre(d, lab().node);
    expect(await d.stop("SIGTERM")).toEqual({ code: 0, signal: null });
    expect(d.lines.at(-1)?.msg).toBe("stopped");
    expect(await activeDev(lab().node)).toBe("eth0");

    const c = start(policy, ["--cleanup-on-exit"]);
    await c.started();
    await sleep(300);
    expect(await c.stop("SIGTERM")).toEqual({ code: 0, signal: null });
    const rules = await ipJson<{ protocol?: string }[]>(lab().node, ["rule", "show"]);
    expect(rules.filter((r) => r.protocol !== undefined && r.protocol !== "kernel")).toEqual([]);
    expect(await activeDev(lab().node)).toBeUndefined();
    const nft = await run(["nft", "list", "tables"], { netns: lab().node });
    expect(nft.stdout).not.toContain("backhaul");
  });
});
