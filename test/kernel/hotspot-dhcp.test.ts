// The hotspot's DHCP server as a service of ours, in the demo lab (`activate: always`): apply puts the
// hotspot's address on wlan0 and starts our dnsmasq on wlan0 only, the hotspot client gets a lease from it with udhcpc, the lease shows in the
// observed state; a second apply changes nothing; a fault after the server's start rolls back with no
// server of ours left; a dnsmasq that is not ours is never touched; the daemon starts a killed server
// again and status shows its clients; a server that cannot start never holds back the daemon's routing.
import { spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { run } from "../../src/effects/exec.js";
import { observe } from "../../src/effects/observe.js";
import { processArgv, readPidFile } from "../../src/effects/proc.js";
import { canonicalState } from "../../src/kinds/registry.js";
import type { KernelState } from "../../src/kinds/types.js";
import { cliIn } from "../helpers/cli.js";
import { activeDev, DaemonProcess, demoPolicyIn, killServicesIn, tempDir } from "../helpers/daemon.js";
import { demoTopology, eventually, LAB_TOOLS, requireKernel, useLab } from "../helpers/kernel.js";

describe.skipIf(!requireKernel([...LAB_TOOLS, "udhcpc"]))("our DHCP server on the demo's hotspot", () => {
  const lab = useLab(demoTopology());
  const dir = tempDir("bhl-hotspot-dhcp-");
  const stateDir = join(dir.path, "state");
  // The phone's DHCP client is another test's subject: this plan has only the hotspot's server.
  const policy = demoPolicyIn(dir.path);
  const running: DaemonProcess[] = [];
  afterEach(async () => {
    for (const d of running.splice(0)) await d.stop("SIGKILL");
  });
  afterAll(() => dir.remove());

  const apply = (env: Record<string, string> = {}) =>
    cliIn(lab().node, ["apply", policy, "--assume-health", "up", "--auto-approve", "--json"], env);
  const full = async (): Promise<KernelState> =>
    canonicalState(await observe({ netns: lab().node, stateDir }));
  const server = async () => (await full()).dnsmasq[0];
  const nodeDnsmasqs = async (): Promise<string[][]> => {
    const pids = (await run(["ip", "netns", "pids", lab().node])).stdout.split(/\s+/).filter(Boolean);
    return pids.map((p) => processArgv(Number(p)) ?? []).filter((a) => a[0] === "dnsmasq");
  };

  it("a fault after the server's start rolls back exactly: no server of ours, no address of ours left", async () => {
    // The hotspot's address is the policy's: backhaul puts it on wlan0 (the lab did, until now).
    await run(["ip", "address", "del", "100.64.50.1/24", "dev", "wlan0"], { netns: lab().node });
    const before = await full();
    const plan = await cliIn(lab().node, ["plan", policy, "--assume-health", "up", "--json"]);
    const ops = (JSON.parse(plan.stdout) as { ops: { kind: string }[] }).ops;
    expect(ops.map((o) => o.kind)).toContain("dnsmasq");
    expect(ops.map((o) => o.kind)).toContain("address");
    const r = await apply({ BACKHAUL_FAULT: `fail-at:${ops.length}` });
    expect(JSON.parse(r.stdout)).toMatchObject({ outcome: "rolled-back" });
    expect(await full()).toEqual(before);
    expect(await nodeDnsmasqs()).toEqual([]);
  });

  it("apply puts the hotspot's address on wlan0 and starts dnsmasq bound to it alone, as an unprivileged user", async () => {
    const r = await apply();
    expect(r.exitCode, r.stderr).toBe(0);
    expect((await full()).address).toContainEqual(
      expect.objectContaining({ dev: "wlan0", local: "100.64.50.1/24" }),
    );
    const s = await server();
    expect(s).toMatchObject({ iface: "wlan0", leases: [] });
    expect(s?.argv).toContain("--interface=wlan0");
    expect(s?.argv).toContain("--except-interface=lo");
    const status = readFileSync(`/proc/${s!.pid}/status`, "utf8");
    expect(/^Uid:\s+(\d+)/m.exec(status)?.[1]).not.toBe("0");
    const again = await apply();
    expect(JSON.parse(again.stdout)).toMatchObject({ outcome: "no-changes" });
  });

  it("the hotspot client gets a lease from it, with the node as router and DNS server", async () => {
    const c = lab().topology.client!;
    // The test's own udhcpc script says what the lease offers (the product never runs a shell).
    const script = join(dir.path, "show-lease.sh");
    writeFileSync(script, '#!/bin/sh\n[ "$1" = bound ] && echo "router=$router dns=$dns"\nexit 0\n', {
      mode: 0o755,
    });
    const out = await run(
      ["busybox", "udhcpc", "-f", "-q", "-n", "-t", "4", "-T", "1", "-i", c.peer, "-s", script],
      { netns: lab().client!, timeoutMs: 15_000 },
    );
    expect(out.stdout).toContain("router=100.64.50.1 dns=100.64.50.1");
    const leased = /lease of (\S+) obtained from 100\.64\.50\.1/.exec(out.stdout + out.stderr)?.[1];
    expect(leased).toMatch(/^100\.64\.50\.(1\d\d|200)$/);
    expect(
      await eventually(async () => (await server())?.leases?.some((l) => l.address === leased) === true),
    ).toBe(true);
  });

  it("never touches a dnsmasq that is not ours, and the daemon starts a killed server of ours again", async () => {
    const foreignPid = join(dir.path, "foreign.pid");
    const foreign = spawn(
      "ip",
      [
        "netns",
        "exec",
        lab().node,
        "dnsmasq",
        "--keep-in-foreground",
        "--conf-file=/dev/null",
        "--port=0",
        "--interface=lo",
        "--bind-interfaces",
        `--pid-file=${foreignPid}`,
      ],
      { stdio: "ignore" },
    );
    try {
      expect(await eventually(async () => readPidFile(foreignPid) !== undefined)).toBe(true);
      const d = DaemonProcess.start(lab().node, policy);
      running.push(d);
      await d.started();
      // status names the server and the client the previous test leased an address to.
      const clientsInStatus = async () => {
        const r = await cliIn(lab().node, ["status", policy, "--json"]);
        if (r.exitCode !== 0) return -1;
        const st = JSON.parse(r.stdout) as { services?: { service: string; clients?: unknown[] }[] };
        return st.services?.find((x) => x.service === "dnsmasq")?.clients?.length ?? -1;
      };
      expect(await eventually(async () => (await clientsInStatus()) === 1, 10_000)).toBe(true);
      const first = (await server())!.pid!;
      process.kill(first, "SIGKILL");
      const back = await eventually(async () => {
        const s = await server();
        return s?.pid !== undefined && s.pid !== first;
      }, 15_000);
      expect(back, d.tail()).toBe(true);
      expect(processArgv(readPidFile(foreignPid)!)).toBeDefined();
      await d.stop();
      expect(processArgv(readPidFile(foreignPid)!)).toBeDefined();
    } finally {
      foreign.kill("SIGKILL");
    }
  });

  it("a server that cannot start (its port taken) never holds back routing: the daemon routes and says why", async () => {
    await killServicesIn(lab().node);
    // Something else holds DNS on the hotspot address.
    const holder = spawn(
      "ip",
      [
        "netns",
        "exec",
        lab().node,
        process.execPath,
        "-e",
        'require("node:dgram").createSocket("udp4").bind(53, "100.64.50.1", () => console.log("bound"))',
      ],
      { stdio: ["ignore", "pipe", "ignore"] },
    );
    try {
      await new Promise<void>((resolve) => holder.stdout!.once("data", () => resolve()));
      // General traffic has no route: the daemon's first pass must put one in, and the server with it.
      await run(["ip", "route", "flush", "table", "100"], { netns: lab().node });
      const d = DaemonProcess.start(lab().node, policy);
      running.push(d);
      await d.started();
      const failed = await d.waitFor(
        (l) => l.msg.startsWith("the hotspot's services were not applied"),
        60_000,
      );
      expect(failed.msg).toContain("Address already in use");
      expect(await activeDev(lab().node)).toBe("eth0");
      expect(await server()).toBeUndefined();
      expect(holder.exitCode).toBeNull();
    } finally {
      holder.kill("SIGKILL");
    }
  });
});
