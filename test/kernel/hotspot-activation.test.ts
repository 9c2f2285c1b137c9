// The hotspot's story in the demo lab, with the daemon, the real hostapd, dnsmasq and udhcpc:
// `when-no-uplink` — every uplink loses carrier, the hotspot comes up after its raise hold-down
// (hostapd ENABLED through its control socket) and a client gets a lease; a daemon restart keeps it
// up; fibre returns, the client reaches the ISP's target through the node's NAT while the lower
// hold-down runs, then the hotspot goes down. `always` — the client reaches the target through
// fibre, and after a failover through LTE, by the same NAT table.
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { observe } from "../../src/effects/observe.js";
import { run } from "../../src/effects/exec.js";
import type { KernelState } from "../../src/kinds/types.js";
import { DaemonProcess, demoPolicyIn, killServicesIn, tempDir } from "../helpers/daemon.js";
import { demoTopology, eventually, LAB_TOOLS, requireKernel, tcpConnect, useLab } from "../helpers/kernel.js";

const TARGET = { host: "198.51.100.10", port: 443, timeoutMs: 2000 };

describe.skipIf(!requireKernel([...LAB_TOOLS, "hostapd", "hostapd_cli", "udhcpc", "conntrack"]))(
  "the hotspot raised and lowered by the daemon",
  () => {
    const lab = useLab(demoTopology());
    const dir = tempDir("bhl-hotspot-activation-");
    const stateDir = join(dir.path, "state");
    const running: DaemonProcess[] = [];
    afterEach(async () => {
      for (const d of running.splice(0)) await d.stop();
      await killServicesIn(lab().node);
    });
    afterAll(() => dir.remove());
    const full = (): Promise<KernelState> => observe({ netns: lab().node, stateDir });
    const start = async (policy: string) => {
      const d = DaemonProcess.start(lab().node, policy);
      running.push(d);
      await d.started();
      return d;
    };
    const lease = async (): Promise<string> => {
      const c = lab().topology.client!;
      const out = await run(
        ["busybox", "udhcpc", "-f", "-q", "-n", "-t", "4", "-T", "1", "-i", c.peer, "-s", "/bin/true"],
        { netns: lab().client!, timeoutMs: 15_000, allowFailure: true },
      );
      return /lease of (\S+) obtained from 100\.64\.50\.1/.exec(out.stdout + out.stderr)?.[1] ?? "";
    };
    /** The client's flows the node translated, by the uplink they leave through. */
    const natOut = async (): Promise<string[]> =>
      (await full()).conntrack.filter((f) => f.source === "100.64.50.10").map((f) => f.iface);

    it("when-no-uplink: up once every uplink is gone, serving a lease; down after fibre's return and its hold-down", async () => {
      const policy = demoPolicyIn(dir.path, (t) =>
        t.replace("activate: always", "activate: when-no-uplink\n  holdDown: {raise: 1s, lower: 4s}"),
      );
      let d = await start(policy);
      await d.waitFor((l) => l["uplink"] === "fibre" && l["to"] === "up", 20_000);
      expect((await full()).hostapd).toEqual([]);
      expect((await full()).dnsmasq).toEqual([]);

      for (const i of ["eth0", "wwan0", "usb0"]) await lab().carrierLoss(i);
      const raised = await d.waitFor((l) => /^hotspot up:/.test(l.msg), 20_000);
      expect(raised.msg).toBe("hotspot up: no uplink usable for 1 s");
      const served = await eventually(async () => (await full()).hostapd[0]?.state === "ENABLED", 15_000);
      expect(served, d.tail()).toBe(true);
      expect(await lease()).toMatch(/^100\.64\.50\.(1\d\d|200)$/);

      // A restart does not lower it: the new daemon finds our access point running.
      const pid = (await full()).hostapd[0]!.pid;
      await d.stop();
      running.splice(0);
      d = await start(policy);
      await d.waitFor((l) => l.msg === "hotspot up: up when the daemon started", 10_000);
      expect((await full()).hostapd[0]?.pid).toBe(pid);

      const mark = d.lines.length;
      await lab().carrierReturn("eth0");
      await d.waitFor((l) => l["uplink"] === "fibre" && l["to"] === "up", 20_000, mark);
      // Within the lower hold-down the client's traffic goes out by fibre, translated by the node.
      expect(await tcpConnect(lab().client!, TARGET)).toBe("connected");
      expect(await natOut()).toContain("eth0");
      const lowered = await d.waitFor((l) => /^hotspot down:/.test(l.msg), 20_000, mark);
      expect(lowered.msg).toMatch(/^hotspot down: fibre(, \w+)* usable for 4 s$/);
      const gone = await eventually(async () => {
        const s = await full();
        return s.hostapd.length === 0 && s.dnsmasq.length === 0 && s["nft-table"].length === 0;
      }, 15_000);
      expect(gone, d.tail()).toBe(true);
      // The address stays: lowered, the hotspot takes nothing of the interface away.
      expect((await full()).address).toContainEqual(
        expect.objectContaining({ dev: "wlan0", local: "100.64.50.1/24" }),
      );
      await lab().carrierReturn("wwan0");
      await lab().carrierReturn("usb0");
    });

    it("always: the client reaches the ISP's target through fibre, and after a failover through LTE, by one NAT table", async () => {
      const d = await start(demoPolicyIn(dir.path));
      await d.waitFor((l) => l["uplink"] === "fibre" && l["to"] === "up", 20_000);
      expect(await eventually(async () => (await full()).hostapd[0]?.state === "ENABLED", 15_000)).toBe(true);
      expect(
        await eventually(async () => (await tcpConnect(lab().client!, TARGET)) === "connected", 10_000),
      ).toBe(true);
      expect(await natOut()).toEqual(["eth0"]);
      const table = (await full())["nft-table"];
      expect(table).toHaveLength(1);

      const mark = d.lines.length;
      await lab().carrierLoss("eth0");
      const s = await d.nextSwitch(mark);
      expect(s.switch?.to).toEqual(["lte"]);
      expect(
        await eventually(async () => (await tcpConnect(lab().client!, TARGET)) === "connected", 10_000),
      ).toBe(true);
      expect(await natOut()).toContain("wwan0");
      expect((await full())["nft-table"]).toEqual(table);
      await lab().carrierReturn("eth0");
    });
  },
);
