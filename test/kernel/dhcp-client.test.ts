// The DHCP client as a service of ours, in the demo lab: the phone on usb0 gets its address from
// dnsmasq in isp-phone through our udhcpc and its lease hook. apply starts the client, waits for the
// lease and plans the phone from it in one run; a fault around the client's start rolls back with no
// process of ours left; the daemon starts a killed client again; a udhcpc that is not ours is never
// touched; --cleanup-on-exit stops ours and releases its lease.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { run } from "../../src/effects/exec.js";
import { observe } from "../../src/effects/observe.js";
import { processArgv } from "../../src/effects/proc.js";
import { canonicalState } from "../../src/kinds/registry.js";
import { dhcpDir } from "../../src/kinds/services/dhcp-client.js";
import type { KernelState } from "../../src/kinds/types.js";
import { cliIn } from "../helpers/cli.js";
import { DaemonProcess, tempDir } from "../helpers/daemon.js";
import { demoTopology, eventually, LAB_TOOLS, requireKernel, useLab } from "../helpers/kernel.js";
import { DEMO_POLICY_FILE } from "../helpers/policies.js";

/** The demo's plan from a fresh node: the client's start, 4 sysctls, 3 routes, 4 rules, the NAT table, the hotspot's access point and DHCP server. */
const OPS_BEFORE_LEASE = 15;

describe.skipIf(!requireKernel([...LAB_TOOLS, "udhcpc"]))("our DHCP client on the demo's phone", () => {
  const lab = useLab(demoTopology());
  const dir = tempDir("bhl-dhcp-");
  const stateDir = join(dir.path, "state");
  mkdirSync(dir.path, { recursive: true });
  const policy = join(dir.path, "lab-demo.yaml");
  writeFileSync(
    policy,
    readFileSync(DEMO_POLICY_FILE, "utf8")
      .replace("stateDir: /run/backhaul-lab", `stateDir: ${stateDir}`)
      .replace("statusSocket: /run/backhaul-lab/status.sock", `statusSocket: ${dir.path}/status.sock`),
  );
  const running: DaemonProcess[] = [];
  afterEach(async () => {
    for (const d of running.splice(0)) await d.stop("SIGKILL");
  });
  afterAll(() => dir.remove());

  const apply = (env: Record<string, string> = {}) =>
    cliIn(lab().node, ["apply", policy, "--assume-health", "up", "--auto-approve", "--json"], env);
  const full = async (): Promise<KernelState> =>
    canonicalState(await observe({ netns: lab().node, stateDir }));
  const usb0 = async () =>
    JSON.parse(
      (await run(["ip", "-j", "-4", "address", "show", "dev", "usb0"], { netns: lab().node })).stdout,
    ) as {
      addr_info?: { local: string; prefixlen: number }[];
    }[];
  const services = async () => {
    const r = await cliIn(lab().node, ["status", policy, "--json"]);
    if (r.exitCode !== 0) return [];
    return (
      (JSON.parse(r.stdout) as { services?: { iface: string; exits: number; pid?: number }[] }).services ?? []
    );
  };
  const clientPid = async (): Promise<number | undefined> => (await full())["dhcp-client"][0]?.pid;

  it("a fault before, right after and after the client's start rolls back exactly: no process of ours left", async () => {
    const pre = await full();
    for (const k of [0, 1, OPS_BEFORE_LEASE]) {
      const r = await apply({ BACKHAUL_FAULT: `fail-at:${k}` });
      expect(r.exitCode, r.stderr).toBe(1);
      expect(JSON.parse(r.stdout)).toMatchObject({ outcome: "rolled-back", ops: OPS_BEFORE_LEASE });
      expect(await full()).toEqual(pre);
      expect((await usb0())[0]?.addr_info ?? []).toEqual([]);
    }
  });

  it("apply starts the client, waits for its lease and plans the phone's table and source rule in one run", async () => {
    const r = await apply();
    expect(r.exitCode, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(out).toMatchObject({
      outcome: "applied",
      ops: OPS_BEFORE_LEASE,
      leases: { usb0: "100.64.3.100/24" },
      then: { ops: 2, executed: 2 },
    });
    expect((await usb0())[0]?.addr_info).toMatchObject([{ local: "100.64.3.100", prefixlen: 24 }]);
    const s = await full();
    expect(s["dhcp-client"]).toMatchObject([
      { iface: "usb0", lease: { address: "100.64.3.100/24", router: "100.64.3.1", seconds: 3600 } },
    ]);
    expect(s.route).toContainEqual(
      expect.objectContaining({ dev: "usb0", gateway: "100.64.3.1", table: 103 }),
    );
    expect(s.rule).toContainEqual(expect.objectContaining({ from: "100.64.3.100/32", table: 103 }));
    const lease = JSON.parse(
      readFileSync(join(dhcpDir(stateDir, lab().node), "usb0.lease"), "utf8"),
    ) as unknown;
    expect(lease).toEqual({ address: "100.64.3.100/24", router: "100.64.3.1", dns: [], seconds: 3600 });
    const again = await apply();
    expect(JSON.parse(again.stdout)).toMatchObject({ outcome: "no-changes" });
    const show = await cliIn(lab().node, ["show", "--state-dir", stateDir]);
    expect(show.stdout).toMatch(
      /dhcp client on usb0: pid \d+, lease 100\.64\.3\.100\/24 router 100\.64\.3\.1/,
    );
  });

  it("the daemon starts a killed client again, says so in status, and never touches a udhcpc not its own", async () => {
    // Someone else's client on wwan0 (its own pid file and script): not ours.
    const foreignPid = join(dir.path, "foreign.pid");
    await run(["udhcpc", "-b", "-t", "1", "-T", "1", "-i", "wwan0", "-s", "/bin/true", "-p", foreignPid], {
      netns: lab().node,
    });
    const foreign = Number(readFileSync(foreignPid, "utf8").trim());
    expect(processArgv(foreign)).toBeDefined();
    const d = DaemonProcess.start(lab().node, policy);
    running.push(d);
    await d.started();
    // The daemon watches the client once a pass has observed it.
    const usb0Services = async () => (await services()).filter((x) => x.iface === "usb0");
    expect(await eventually(async () => (await usb0Services()).length === 1, 10_000)).toBe(true);
    const first = await clientPid();
    expect(first).toBeDefined();
    process.kill(first!, "SIGKILL");
    const exit = await d.waitFor((l) => l.msg.startsWith("dhcp-client on usb0"), 10_000);
    expect(exit["reason"]).toBeDefined();
    expect(
      await eventually(async () => {
        const p = await clientPid();
        return p !== undefined && p !== first;
      }, 10_000),
    ).toBe(true);
    expect(await usb0Services()).toMatchObject([{ iface: "usb0", exits: 1, pid: await clientPid() }]);
    expect(processArgv(foreign)).toBeDefined();

    // --cleanup-on-exit: ours stopped and its lease released (dnsmasq forgets it), the foreign one runs on.
    expect(await d.stop("SIGTERM")).toEqual({ code: 0, signal: null });
    const c = DaemonProcess.start(lab().node, policy, ["--cleanup-on-exit"]);
    running.push(c);
    await c.started();
    expect(await c.stop("SIGTERM")).toEqual({ code: 0, signal: null });
    expect((await full())["dhcp-client"]).toEqual([]);
    // The hotspot's DHCP server of ours goes too.
    expect((await full()).dnsmasq).toEqual([]);
    expect((await usb0())[0]?.addr_info ?? []).toEqual([]);
    expect(readFileSync(join(lab().dir, "usb0.leases"), "utf8")).not.toContain("100.64.3.100");
    expect(processArgv(foreign)).toBeDefined();
    process.kill(foreign, "SIGKILL");
  });
});
