// The hotspot's access point as a service of ours, on the demo lab's wlan0 with the real hostapd
// (`driver=wired`: the lab has no radio): every security mode's file is loaded by hostapd and serves
// (ENABLED through its control socket); no passphrase appears in a plan, apply's output or the
// journal; new credentials are a reload that keeps the same process, a fault after it rolls the file
// back; a changed setting restarts it; a hostapd that is not ours is never touched.
import { spawn } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { readPassphrase, rotatePassphrase } from "../../src/effects/hotspot/credentials.js";
import { observe } from "../../src/effects/observe.js";
import { processArgv } from "../../src/effects/proc.js";
import { hostapdDir, hostapdPaths, securityOf } from "../../src/kinds/services/hostapd.js";
import { cliIn } from "../helpers/cli.js";
import { demoPolicyIn, tempDir } from "../helpers/daemon.js";
import { demoTopology, eventually, LAB_TOOLS, requireKernel, useLab } from "../helpers/kernel.js";

const MODES = ["open", "wpa2", "wpa3", "wpa2-wpa3"] as const;

/** Every file under `dir` but the secrets' own, as text (for the search for a leaked passphrase). */
function textsUnder(dir: string, skip: readonly string[]): string {
  let out = "";
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out += textsUnder(p, skip);
    else if (e.isFile() && !skip.some((s) => p.startsWith(s))) out += readFileSync(p, "utf8");
  }
  return out;
}

describe.skipIf(!requireKernel([...LAB_TOOLS, "hostapd", "hostapd_cli"]))(
  "our access point on the demo's hotspot",
  () => {
    const lab = useLab(demoTopology());
    const dir = tempDir("bhl-hotspot-ap-");
    const stateDir = join(dir.path, "state");
    afterAll(() => dir.remove());
    const policyWith = (security: (typeof MODES)[number]) =>
      demoPolicyIn(dir.path, (t) => t.replace("security: open", `security: ${security}`));
    const paths = () => hostapdPaths(hostapdDir(stateDir, lab().node), "wlan0");
    const ap = async () => (await observe({ netns: lab().node, stateDir })).hostapd[0];
    const apply = (policy: string, env: Record<string, string> = {}) =>
      cliIn(lab().node, ["apply", policy, "--assume-health", "up", "--auto-approve", "--json"], env);

    it.each(MODES)(
      "%s: hostapd loads the file backhaul writes and serves, no secret in any output",
      async (mode) => {
        const policy = policyWith(mode);
        const plan = await cliIn(lab().node, ["plan", policy, "--assume-health", "up", "--json"]);
        expect(plan.exitCode, plan.stderr).toBe(0);
        const r = await apply(policy);
        expect(r.exitCode, r.stderr).toBe(0);
        expect(JSON.parse(r.stdout)).toMatchObject({ outcome: "applied" });
        const served = await eventually(async () => (await ap())?.state === "ENABLED");
        const h = (await ap())!;
        expect(served, JSON.stringify(h)).toBe(true);
        expect(securityOf(h.config)).toBe(mode);
        expect(processArgv(h.pid!)).toEqual(["hostapd", paths().conf]);
        expect(statSync(paths().conf).mode & 0o777).toBe(0o600);
        expect(statSync(paths().ctrlDir).mode & 0o777).toBe(0o700);
        if (mode === "open") {
          expect(h.credentials).toBeUndefined();
          return;
        }
        expect(h.credentials).toBe("current");
        expect(statSync(paths().passphrase).mode & 0o777).toBe(0o600);
        const pass = readPassphrase(paths().passphrase);
        expect(readFileSync(paths().conf, "utf8")).toContain(pass);
        const status = await cliIn(lab().node, ["status", policy, "--json"]);
        const show = await cliIn(lab().node, ["show", "--json"]);
        for (const text of [plan.stdout, plan.stderr, r.stdout, r.stderr, status.stdout, show.stdout])
          expect(text).not.toContain(pass);
        // The journal, the baseline, the logs: nothing of ours but the secrets' own files holds it.
        const secrets = [paths().conf, paths().passphrase, paths().wpaPsk];
        expect(textsUnder(stateDir, secrets)).not.toContain(pass);
      },
    );

    it("a new passphrase is a reload: the same hostapd, still serving, with the new file", async () => {
      const policy = policyWith("wpa2-wpa3");
      expect((await apply(policy)).exitCode).toBe(0);
      const before = (await ap())!;
      const old = readPassphrase(paths().passphrase);
      rotatePassphrase(paths().passphrase);
      const fresh = readPassphrase(paths().passphrase);
      expect((await ap())?.credentials).toBe("stale");
      const plan = await cliIn(lab().node, ["plan", policy, "--assume-health", "up", "--json"]);
      const ops = (JSON.parse(plan.stdout) as { ops: { kind: string; op: string; disruption: string }[] })
        .ops;
      expect(ops).toEqual([
        expect.objectContaining({ kind: "hostapd", op: "change", disruption: "in-place" }),
      ]);
      const r = await apply(policy);
      expect(r.exitCode, r.stderr).toBe(0);
      const after = (await ap())!;
      expect(after).toMatchObject({ pid: before.pid, credentials: "current", state: "ENABLED" });
      const conf = readFileSync(paths().conf, "utf8");
      expect(conf).toContain(fresh);
      expect(conf).not.toContain(old);
    });

    it("a fault after the reload rolls the file back: the same process, the old credentials again", async () => {
      const policy = policyWith("wpa2");
      expect((await apply(policy)).exitCode).toBe(0);
      const before = (await ap())!;
      const conf = readFileSync(paths().conf, "utf8");
      rotatePassphrase(paths().passphrase);
      const r = await apply(policy, { BACKHAUL_FAULT: "fail-at:1" });
      expect(JSON.parse(r.stdout)).toMatchObject({ outcome: "rolled-back" });
      expect(readFileSync(paths().conf, "utf8")).toBe(conf);
      expect(await ap()).toMatchObject({ pid: before.pid, credentials: "stale", state: "ENABLED" });
    });

    it("a changed setting restarts it; a hostapd that is not ours, on another interface, is never touched", async () => {
      // A foreign access point on the hotspot client's side of another veth pair in the node.
      const node = lab().node;
      const { run } = await import("../../src/effects/exec.js");
      await run(["ip", "link", "add", "ap9", "type", "veth", "peer", "name", "ap9p"], { netns: node });
      await run(["ip", "link", "set", "ap9", "up"], { netns: node });
      const foreignDir = join(dir.path, "foreign");
      mkdirSync(join(foreignDir, "ctrl"), { recursive: true, mode: 0o700 });
      const foreignConf = join(foreignDir, "ap9.conf");
      writeFileSync(
        foreignConf,
        `interface=ap9\ndriver=wired\nctrl_interface=${foreignDir}/ctrl\nssid=theirs\n`,
      );
      const foreign = spawn("ip", ["netns", "exec", node, "hostapd", foreignConf], { stdio: "ignore" });
      try {
        const policy = policyWith("wpa2");
        expect((await apply(policy)).exitCode).toBe(0);
        const before = (await ap())!;
        const renamed = demoPolicyIn(dir.path, (t) =>
          t.replace("security: open", "security: wpa2").replace("ssid: backhaul-lab", "ssid: backhaul-lab-2"),
        );
        const r = await apply(renamed);
        expect(r.exitCode, r.stderr).toBe(0);
        const after = await eventually(async () => (await ap())?.state === "ENABLED");
        expect(after).toBe(true);
        expect((await ap())!.pid).not.toBe(before.pid);
        expect(readFileSync(paths().conf, "utf8")).toContain("ssid=backhaul-lab-2");
        expect((await observe({ netns: node, stateDir })).hostapd.map((h) => h.iface)).toEqual(["wlan0"]);
        expect(foreign.exitCode).toBeNull();
        expect(processArgv(foreign.pid!)).toEqual(["hostapd", foreignConf]);
      } finally {
        foreign.kill("SIGKILL");
      }
    });
  },
);
