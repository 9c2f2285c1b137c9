// The daemon follows its DHCP clients' leases and the tethers that come and go, in the demo lab:
// - the ISP hands the phone another address: the client's renewal is NAKed, it takes the new lease,
//   and the phone's source rule is planned again from it;
// - the ISP's server stops answering: the lease runs out (udhcpd serves 20 s leases) and the phone
//   is unusable, its source rule gone;
// - a tether matched by name appears while the daemon runs: it gets our client, its lease, and takes
//   traffic once its probes pass; unplugged, traffic is back on fibre at once, with a route all along.
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { run } from "../../src/effects/exec.js";
import { observe } from "../../src/effects/observe.js";
import { processArgv, readPidFile } from "../../src/effects/proc.js";
import type { Topology } from "../../src/lab/topology.js";
import { cliIn } from "../helpers/cli.js";
import { activeDev, DaemonProcess, tempDir } from "../helpers/daemon.js";
import { demoTopology, eventually, LAB_TOOLS, requireKernel, useLab } from "../helpers/kernel.js";
import { DEMO_POLICY_FILE } from "../helpers/policies.js";

interface UplinkStatus {
  readonly name: string;
  readonly state: string;
  readonly usable: boolean;
  readonly active: boolean;
  readonly reason: string;
}

/** The demo policy as `dir/NAME.yaml`, its state in `dir/NAME` (policies never share state), edited by `edit`. */
function policyIn(dir: string, name: string, edit: (t: string) => string = (t) => t): string {
  const path = join(dir, `${name}.yaml`);
  writeFileSync(
    path,
    edit(
      readFileSync(DEMO_POLICY_FILE, "utf8")
        .replace("stateDir: /run/backhaul-lab", `stateDir: ${dir}/${name}`)
        .replace("statusSocket: /run/backhaul-lab/status.sock", `statusSocket: ${dir}/${name}.sock`),
    ),
  );
  return path;
}

/** A test that failed half-way leaves our clients running: stop every udhcpc whose pid file is under `dir`. */
function stopClientsUnder(dir: string): void {
  for (const f of readdirSync(dir, { recursive: true, encoding: "utf8" })) {
    if (!f.endsWith(".pid")) continue;
    const pid = readPidFile(join(dir, f));
    if (pid !== undefined && processArgv(pid)?.[0]?.endsWith("udhcpc")) process.kill(pid, "SIGKILL");
  }
}

/** Helpers over one lab and one policy. */
function node(netns: () => string, policy: () => string, stateDir: () => string) {
  const uplink = async (name: string): Promise<UplinkStatus | undefined> => {
    const r = await cliIn(netns(), ["status", policy(), "--json"]);
    if (r.exitCode !== 0) return undefined;
    return (JSON.parse(r.stdout) as { uplinks: UplinkStatus[] }).uplinks.find((u) => u.name === name);
  };
  const addresses = async (iface: string): Promise<string[]> => {
    const r = await run(["ip", "-j", "-4", "address", "show", "dev", iface], {
      netns: netns(),
      allowFailure: true,
    });
    if (r.exitCode !== 0) return [];
    const links = JSON.parse(r.stdout) as { addr_info?: { local: string; prefixlen: number }[] }[];
    return (links[0]?.addr_info ?? []).map((a) => `${a.local}/${a.prefixlen}`);
  };
  const sourceRules = async (): Promise<string[]> => {
    const rules = JSON.parse((await run(["ip", "-j", "rule", "show"], { netns: netns() })).stdout) as {
      src?: string;
      srclen?: number;
      table?: string;
    }[];
    return rules
      .filter((r) => r.src !== undefined && (r.srclen ?? 32) === 32)
      .map((r) => `${r.src} ${r.table}`);
  };
  const clientPid = async (): Promise<number | undefined> =>
    (await observe({ netns: netns(), stateDir: stateDir() }))["dhcp-client"][0]?.pid;
  return { uplink, addresses, sourceRules, clientPid };
}

/**
 * For the enclosing describe: a lab, a state directory, the demo policy in it, the daemons started
 * (killed after each test) and the clients they left (killed at the end, should a test fail half-way).
 */
function daemonLab(topology: Topology, prefix: string) {
  const lab = useLab(topology);
  const dir = tempDir(prefix);
  const running: DaemonProcess[] = [];
  afterEach(async () => {
    for (const d of running.splice(0)) await d.stop("SIGKILL");
  });
  afterAll(() => {
    stopClientsUnder(dir.path);
    dir.remove();
  });
  const policy = policyIn(dir.path, "demo");
  const n = node(
    () => lab().node,
    () => policy,
    () => join(dir.path, "demo"),
  );
  return { lab, dir, running, policy, n };
}

describe.skipIf(!requireKernel([...LAB_TOOLS, "udhcpc"]))(
  "a lease that changes, and tethers that come and go",
  () => {
    const { lab, dir, running, policy, n } = daemonLab(demoTopology(), "bhl-lease-");

    it("the ISP hands the phone another address: the NAKed client takes it and the source rule follows", async () => {
      const d = DaemonProcess.start(lab().node, policy);
      running.push(d);
      await d.started();
      expect(await eventually(async () => (await n.uplink("phone"))?.usable === true, 20_000)).toBe(true);
      expect(await n.addresses("usb0")).toEqual(["100.64.3.100/24"]);
      expect(await n.sourceRules()).toContain("100.64.3.100 103");

      await lab().changeLease("usb0", "100.64.3.120");
      // Renewal time, now: udhcpc renews on SIGUSR1.
      const pid = await n.clientPid();
      expect(pid).toBeDefined();
      process.kill(pid!, "SIGUSR1");
      // udhcpc's own timers bound this: a unicast renew (2 s), three broadcast ones (2 s each), 3 s
      // after the NAK, then discover and request; under load each step waits longer.
      expect(
        await eventually(async () => {
          const rules = await n.sourceRules();
          return rules.includes("100.64.3.120 103") && !rules.includes("100.64.3.100 103");
        }, 45_000),
      ).toBe(true);
      expect(await n.addresses("usb0")).toEqual(["100.64.3.120/24"]);
      expect(await eventually(async () => (await n.uplink("phone"))?.usable === true, 20_000)).toBe(true);
      // The same client throughout: a renewal, not a restart.
      expect(await n.clientPid()).toBe(pid);
      expect(await d.stop("SIGTERM")).toEqual({ code: 0, signal: null });
    });

    it("a tether that appears while the daemon runs takes traffic once its probes pass; unplugged, fibre has it at once", async () => {
      // An operator who prefers the phone whenever it is plugged in, found by name.
      const tether = policyIn(dir.path, "tether", (t) =>
        t.replace(
          "    interface: usb0\n    kind: usb-tether\n    addressing: dhcp\n    gateway: auto\n    use: emergency-only\n",
          "    match: { name: 'usb*' }\n    addressing: dhcp\n    gateway: auto\n    bias: 200\n",
        ),
      );
      expect(readFileSync(tether, "utf8")).toContain("match: { name: 'usb*' }");
      await lab().removeInterface("usb0");
      const d = DaemonProcess.start(lab().node, tether, ["--cleanup-on-exit"]);
      running.push(d);
      await d.started();
      expect(await eventually(async () => (await activeDev(lab().node)) === "eth0", 15_000)).toBe(true);

      const plugged = d.lines.length;
      await lab().restoreInterface("usb0");
      const toPhone = await d.nextSwitch(plugged, 30_000);
      expect(toPhone.switch).toMatchObject({ to: ["phone"] });
      expect(await activeDev(lab().node)).toBe("usb0");
      const t = node(
        () => lab().node,
        () => tether,
        () => join(dir.path, "tether"),
      );
      expect(await t.addresses("usb0")).toEqual([`${lab().leased("usb0")}/24`]);

      const unplugged = d.lines.length;
      await lab().removeInterface("usb0");
      const back = await d.nextSwitch(unplugged, 10_000);
      expect(back.switch).toMatchObject({ from: ["phone"], to: ["fibre"] });
      expect(await activeDev(lab().node)).toBe("eth0");
      const got = await run(["ip", "-j", "route", "get", "198.51.100.10"], { netns: lab().node });
      expect(JSON.parse(got.stdout)).toMatchObject([{ dev: "eth0" }]);
      // Gone with its interface: our client on it, and its status.
      expect(await eventually(async () => (await t.clientPid()) === undefined, 10_000)).toBe(true);
      expect(await t.uplink("phone")).toMatchObject({ usable: false, active: false });
      await lab().restoreInterface("usb0");
    });
  },
);

/** The demo lab with the phone's ISP serving 20-second leases (udhcpd; dnsmasq serves 2 minutes at least). */
function shortLeaseTopology(): Topology {
  const t = demoTopology();
  return {
    ...t,
    uplinks: t.uplinks.map((u) =>
      u.addressing.mode === "dhcp"
        ? { ...u, addressing: { ...u.addressing, leaseTime: "20", server: "udhcpd" as const } }
        : u,
    ),
  };
}

describe.skipIf(!requireKernel([...LAB_TOOLS, "udhcpc", "busybox"]))("a lease that runs out", () => {
  const { lab, running, policy, n } = daemonLab(shortLeaseTopology(), "bhl-expiry-");

  it("the server stops answering: at the lease's end the phone loses its address and is unusable", async () => {
    const d = DaemonProcess.start(lab().node, policy, ["--cleanup-on-exit"]);
    running.push(d);
    await d.started();
    expect(await eventually(async () => (await n.uplink("phone"))?.usable === true, 20_000)).toBe(true);
    expect(await n.sourceRules()).toContain("100.64.3.100 103");
    // Renewals keep the lease (and the address) while the server answers.
    await new Promise((r) => setTimeout(r, 12_000));
    expect(await n.addresses("usb0")).toEqual(["100.64.3.100/24"]);
    expect((await n.uplink("phone"))?.usable).toBe(true);

    await lab().stopDhcpServer("usb0");
    const stopped = Date.now();
    expect(await eventually(async () => (await n.addresses("usb0")).length === 0, 30_000)).toBe(true);
    // Not before the lease's end (20 s after the last renewal, which was at most ~10 s ago).
    expect(Date.now() - stopped).toBeGreaterThan(5_000);
    expect(await eventually(async () => (await n.uplink("phone"))?.usable === false, 5_000)).toBe(true);
    expect(await eventually(async () => !(await n.sourceRules()).includes("100.64.3.100 103"), 5_000)).toBe(
      true,
    );
    // The client keeps asking: it is still ours and still running, until the cleanup stops it.
    expect(await n.clientPid()).toBeDefined();
    expect(await d.stop("SIGTERM")).toEqual({ code: 0, signal: null });
    expect(await n.clientPid()).toBeUndefined();
  });
});
