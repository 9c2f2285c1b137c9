// The daemon keeps the demo's WPA2/WPA3 access point (real hostapd on wlan0, `driver=wired`): an
// onboarding token is put in force by a reload of the same process and taken out when it expires;
// a passphrase older than its rotation is replaced by a reload; our hostapd killed is started again;
// --cleanup-on-exit stops it and removes the files that hold its secrets.
import { readFileSync, utimesSync, existsSync } from "node:fs";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { statusSocketPath } from "../../src/daemon/status-server.js";
import { requestPass } from "../../src/daemon/status-client.js";
import { readPassphrase } from "../../src/effects/hotspot/credentials.js";
import { observe } from "../../src/effects/observe.js";
import { processArgv } from "../../src/effects/proc.js";
import { hostapdDir, hostapdPaths } from "../../src/kinds/services/hostapd.js";
import { cliIn } from "../helpers/cli.js";
import { DaemonProcess, demoPolicyIn, killServicesIn, tempDir } from "../helpers/daemon.js";
import { demoTopology, eventually, LAB_TOOLS, requireKernel, useLab } from "../helpers/kernel.js";

describe.skipIf(!requireKernel([...LAB_TOOLS, "hostapd", "hostapd_cli"]))(
  "the daemon and the hotspot's access point",
  () => {
    const lab = useLab(demoTopology());
    const dir = tempDir("bhl-hotspot-daemon-");
    const stateDir = join(dir.path, "state");
    const policy = demoPolicyIn(dir.path, (t) => t.replace("security: open", "security: wpa2-wpa3"));
    const running: DaemonProcess[] = [];
    afterEach(async () => {
      // SIGTERM: a pass in flight (a reload) finishes; the next test starts on a closed journal.
      for (const d of running.splice(0)) await d.stop();
      await killServicesIn(lab().node);
    });
    afterAll(() => dir.remove());
    const paths = () => hostapdPaths(hostapdDir(stateDir, lab().node), "wlan0");
    const ap = async () => (await observe({ netns: lab().node, stateDir })).hostapd[0];
    const serving = () => eventually(async () => (await ap())?.state === "ENABLED", 20_000);
    const start = async (args: string[] = []) => {
      const d = DaemonProcess.start(lab().node, policy, args);
      running.push(d);
      await d.started();
      expect(await serving(), d.tail()).toBe(true);
      return d;
    };

    it("a token is in force by a reload of the same hostapd, and gone from its files once it expires", async () => {
      const d = await start();
      const pid = (await ap())!.pid;
      const r = await cliIn(lab().node, ["hotspot", "token", policy, "--ttl", "10s", "--json"]);
      expect(r.exitCode, r.stderr + d.tail()).toBe(0);
      const t = JSON.parse(r.stdout) as { id: string; passphrase: string; uri: string; inForce: boolean };
      expect(t.inForce).toBe(true);
      expect(t.uri).toBe(`WIFI:T:WPA;S:backhaul-lab;P:${t.passphrase};;`);
      expect(readFileSync(paths().wpaPsk, "utf8")).toContain(
        `keyid=${t.id} 00:00:00:00:00:00 ${t.passphrase}`,
      );
      expect(await ap()).toMatchObject({ pid, credentials: "current", state: "ENABLED" });
      // The daemon's log names no token and no passphrase.
      expect(JSON.stringify(d.lines)).not.toContain(t.passphrase);
      const gone = await eventually(
        async () => !readFileSync(paths().wpaPsk, "utf8").includes(t.passphrase),
        20_000,
      );
      expect(gone, d.tail()).toBe(true);
      expect(await ap()).toMatchObject({ pid, credentials: "current", state: "ENABLED" });
    });

    it("prints the token as a QR code with its text, and refuses without a daemon", async () => {
      const d = await start();
      const r = await cliIn(lab().node, ["hotspot", "token", policy, "--ttl", "1m"]);
      expect(r.exitCode, r.stderr + d.tail()).toBe(0);
      expect(r.stdout).toMatch(/[▀▄█]{10}/);
      expect(r.stdout).toMatch(/^SSID {8}backhaul-lab$/m);
      expect(r.stdout).toMatch(/^Passphrase {2}\S{8,63}$/m);
      await d.stop();
      running.splice(0);
      const before = readFileSync(paths().tokens, "utf8");
      const refused = await cliIn(lab().node, ["hotspot", "token", policy]);
      expect(refused.exitCode).toBe(1);
      expect(refused.stderr).toMatch(/no daemon is running.*none was made/);
      expect(readFileSync(paths().tokens, "utf8")).toBe(before);
    });

    it("replaces a passphrase older than its rotation by a reload, and starts a killed hostapd again", async () => {
      const d = await start();
      const first = (await ap())!;
      const old = readPassphrase(paths().passphrase);
      // A day and a minute old: past the demo's default rotation of 24h.
      const then = (Date.now() - 24 * 3600_000 - 60_000) / 1000;
      utimesSync(paths().passphrase, then, then);
      await requestPass(statusSocketPath(join(dir.path, "status.sock"), lab().node), "test");
      const fresh = readPassphrase(paths().passphrase);
      expect(fresh).not.toBe(old);
      expect(readFileSync(paths().conf, "utf8")).toContain(fresh);
      expect(await ap()).toMatchObject({ pid: first.pid, credentials: "current", state: "ENABLED" });
      const rotated = d.lines.find((l) => /rotated the hotspot's passphrase/.test(l.msg));
      expect(rotated?.msg).toMatch(/sha256:[0-9a-f]{8} → sha256:[0-9a-f]{8}/);
      expect(JSON.stringify(d.lines)).not.toContain(fresh);

      process.kill(first.pid!, "SIGKILL");
      const back = await eventually(async () => {
        const h = await ap();
        return h?.pid !== undefined && h.pid !== first.pid && h.state === "ENABLED";
      }, 20_000);
      expect(back, d.tail()).toBe(true);
    });

    it("--cleanup-on-exit stops our hostapd and removes the files that hold its secrets", async () => {
      const d = await start(["--cleanup-on-exit"]);
      const pid = (await ap())!.pid!;
      expect(await d.stop("SIGTERM")).toEqual({ code: 0, signal: null });
      running.splice(0);
      expect(processArgv(pid)).toBeUndefined();
      expect(existsSync(paths().conf)).toBe(false);
      expect(existsSync(paths().wpaPsk)).toBe(false);
      // The passphrase clients know stays for the next start.
      expect(existsSync(paths().passphrase)).toBe(true);
    });
  },
);
