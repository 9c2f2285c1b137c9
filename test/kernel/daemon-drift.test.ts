// `backhaul run` and drift: what someone changes behind the daemon's back is logged once with its class
// and healed by the next pass; a foreign rule that overrides ours, and a foreign firewall that drops
// what our NAT forwards, are each logged once as a conflict and left alone (not ours to remove).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { activeDev, DaemonProcess, demoPolicyIn, tempDir } from "../helpers/daemon.js";
import { run } from "../../src/effects/exec.js";
import { MONITOR_ARGV } from "../../src/effects/ip-monitor.js";
import { demoTopology, eventually, ipJson, LAB_TOOLS, requireKernel, useLab } from "../helpers/kernel.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The demo lab for a describe block, and a way to start daemons in it, killed after each test. */
function demoLabWithDaemons(prefix: string) {
  const lab = useLab(demoTopology());
  const dir = tempDir(prefix);
  const running: DaemonProcess[] = [];
  afterEach(async () => {
    for (const d of running.splice(0)) await d.stop("SIGKILL");
  });
  afterAll(() => dir.remove());
  return {
    lab,
    sh: (...argv: string[]) => lab().exec(lab().node, argv),
    /**
     * The daemon on the demo policy with `daemon` lines added (in `dir/name`), started, once it has
     * switched to fibre (that switch is logged once its pass is over).
     */
    async onFibre(name: string, daemon: string): Promise<DaemonProcess> {
      const d = DaemonProcess.start(
        lab().node,
        demoPolicyIn(join(dir.path, name), (t) => t.replace("  logLevel: info\n", daemon)),
      );
      running.push(d);
      await d.started();
      await d.waitFor(
        (l) => (l["switch"] as { to?: string[] } | undefined)?.to?.includes("fibre") === true,
        20_000,
      );
      return d;
    },
  };
}

describe.skipIf(!requireKernel([...LAB_TOOLS, "nft"]))("backhaul run: drift in the demo lab", () => {
  const { lab, sh, onFibre } = demoLabWithDaemons("bhl-run-drift-");
  const driftLines = (d: DaemonProcess, from: number) =>
    d.lines.slice(from).filter((l) => l["drift"] !== undefined) as unknown as {
      drift: { class: string; kind: string; key: string };
      msg: string;
    }[];

  it("logs each drift once with its class, heals ours, and leaves a foreign conflict in place", async () => {
    // The safety-net pass every 2 s resyncs the observed-state cache: each of the changes below is
    // seen through an event, and a resync that finds the cache disagreeing logs it (none may).
    const d = await onFibre("a", "  logLevel: debug\n  resyncInterval: 2s\n");
    // Change nothing while a pass is applying: an owned object removed in its verification window fails
    // the pass and its rollback puts the object back, which is not the drift this test is about. lte up
    // is the last health change of the start.
    await d.waitFor((l) => l["uplink"] === "lte" && l["to"] === "up", 20_000);
    expect(await activeDev(lab().node)).toBe("eth0");
    const table102 = async () => (await ipJson(lab().node, ["route", "show", "table", "102"])) as unknown[];
    expect((await table102()).length).toBeGreaterThan(0);

    let mark = d.lines.length;
    await sh("ip", "route", "del", "default", "table", "102");
    const missing = await d.waitFor((l) => l["drift"] !== undefined, 10_000, mark);
    expect(missing["drift"]).toMatchObject({ class: "missing", kind: "route" });
    expect(await eventually(async () => (await table102()).length > 0, 5000)).toBe(true);
    await sleep(1500);
    expect(driftLines(d, mark).map((l) => l.drift.class)).toEqual(["missing"]);

    mark = d.lines.length;
    await sh("ip", "route", "add", "default", "via", "100.64.2.1", "dev", "wwan0", "table", "250");
    await sh("ip", "rule", "add", "priority", "500", "lookup", "250");
    const conflict = await d.waitFor((l) => l["drift"] !== undefined, 10_000, mark);
    expect(conflict["drift"]).toMatchObject({ class: "conflict", kind: "rule" });
    expect(conflict.msg).toMatch(/foreign .*500/);
    // More passes come (the periodic one, probes): the conflict is not logged again, and stays.
    await sleep(2500);
    expect(driftLines(d, mark).map((l) => l.drift.class)).toEqual(["conflict"]);
    const rules = (await ipJson(lab().node, ["rule", "show"])) as { priority: number }[];
    expect(rules.some((r) => r.priority === 500)).toBe(true);

    // A foreign firewall that drops what our NAT forwards: a conflict too, logged once, left in place.
    mark = d.lines.length;
    await lab().exec(lab().node, ["nft", "-f", "-"], {
      input:
        "table inet firewall {\n chain forward {\n  type filter hook forward priority 0; policy accept;\n" +
        '  iifname "wlan0" drop\n }\n}\n',
    });
    const dropped = await d.waitFor((l) => l["drift"] !== undefined, 10_000, mark);
    expect(dropped["drift"]).toMatchObject({ class: "conflict", kind: "nft-table", key: "inet firewall" });
    await sleep(2500);
    expect(driftLines(d, mark).map((l) => l.drift.kind)).toEqual(["nft-table"]);
    expect((await sh("nft", "list", "tables")).stdout).toContain("table inet firewall");
    // Every change above came behind the daemon's back: the resyncs between them found its cache right.
    expect(d.lines.filter((l) => l.msg.startsWith("resync:")).length).toBeGreaterThanOrEqual(1);
    expect(d.lines.filter((l) => l["cacheMismatch"] !== undefined)).toEqual([]);
  });
});

// Its own lab: the daemon above leaves its hotspot's DHCP server running (killed, it cleans nothing up).
describe.skipIf(!requireKernel([...LAB_TOOLS, "nft"]))(
  "backhaul run: a dead ip monitor in the demo lab",
  () => {
    const { lab, sh, onFibre } = demoLabWithDaemons("bhl-run-monitor-");

    it("heals what changed while its ip monitor was dead: reads are fresh until the monitor is back", async () => {
      // No resync comes during the test: what heals the route is the fresh read after the monitor's death.
      const d = await onFibre("m", "  logLevel: info\n  resyncInterval: 10m\n");
      const pids = (await run(["ip", "netns", "pids", lab().node])).stdout
        .split("\n")
        .filter((p) => p !== "");
      const monitor = pids.find((p) => {
        try {
          return (
            readFileSync(`/proc/${p}/cmdline`, "utf8").split("\0").join(" ").trim() === MONITOR_ARGV.join(" ")
          );
        } catch {
          return false;
        }
      });
      expect(monitor).toBeDefined();
      const mark = d.lines.length;
      process.kill(Number(monitor), "SIGKILL");
      await sh("ip", "route", "del", "default", "table", "102");
      const restarted = await d.waitFor((l) => l.msg.startsWith("ip monitor restarted"), 10_000, mark);
      expect(restarted.msg).toContain("fresh read");
      const missing = await d.waitFor((l) => l["drift"] !== undefined, 10_000, mark);
      expect(missing["drift"]).toMatchObject({ class: "missing", kind: "route" });
      const table102 = async () => (await ipJson(lab().node, ["route", "show", "table", "102"])) as unknown[];
      expect(await eventually(async () => (await table102()).length > 0, 5000)).toBe(true);
      expect(d.lines.filter((l) => l["cacheMismatch"] !== undefined)).toEqual([]);
    });
  },
);
