// `backhaul adopt` on the real kernel: a lab node with two uplinks set up by hand (default routes in
// the main table via different gateways and metrics, the modem preferred over the ethernet), the policy
// adopt writes validates, and plan and apply on it leave general traffic on the same uplink and
// gateway, as `ip route get` sees it.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { PlanDocument } from "../../src/core/plan/document.js";
import { parseTopology } from "../../src/lab/topology.js";
import { cli } from "../helpers/cli.js";
import { LAB_TOOLS, requireKernel, useLab } from "../helpers/kernel.js";

// wwan0 at metric 100 wins over eth0 at 200: the kinds' default biases (ethernet over LTE) would not.
const TOPOLOGY = parseTopology(`
node: node
internet:
  targets:
    - address: 198.51.100.10
      tcp: [443]
  routesBack: [100.64.0.0/10]
uplinks:
  - iface: eth0
    isp: isp-fibre
    gateway: 100.64.1.1/24
    address: 100.64.1.2/24
    defaultRouteMetric: 200
  - iface: wwan0
    isp: isp-lte
    gateway: 100.64.2.1/24
    address: 100.64.2.2/24
    defaultRouteMetric: 100
client:
  namespace: client
  iface: wlan0
  nodeAddress: 100.64.50.1/24
  address: 100.64.50.10/24
`);

/** "via GW dev DEV" of the route general traffic takes, as the kernel answers `ip route get`. */
const GENERIC = "203.0.113.177";

describe.skipIf(!requireKernel(LAB_TOOLS))("backhaul adopt on a lab node set up by hand", () => {
  const lab = useLab(TOPOLOGY);
  const dir = mkdtempSync(join(tmpdir(), "bhl-adopt-"));
  const policy = join(dir, "policy.yaml");
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const generalRoute = async (): Promise<string> => {
    const r = await lab().exec(lab().node, ["ip", "-j", "route", "get", GENERIC]);
    const [route] = JSON.parse(r.stdout) as { gateway?: string; dev: string }[];
    return `via ${route!.gateway} dev ${route!.dev}`;
  };

  it("drift --emit-policy writes what adopt writes (before anything is applied)", async () => {
    const [a, d] = await Promise.all([
      cli(["adopt", "--netns", lab().node]),
      cli(["drift", "--emit-policy", "--netns", lab().node]),
    ]);
    expect(a.exitCode, a.stderr).toBe(0);
    expect(d.stdout).toBe(a.stdout);
  });

  it("writes a policy that validates and keeps general traffic where it goes through plan and apply", async () => {
    const before = await generalRoute();
    expect(before).toBe("via 100.64.2.1 dev wwan0");

    const adopted = await cli([
      "adopt",
      "--netns",
      lab().node,
      "--state-dir",
      dir,
      "--probe",
      "tcp://198.51.100.10:443",
    ]);
    expect(adopted.exitCode, adopted.stderr).toBe(0);
    expect(adopted.stderr).toContain("general traffic stays as it goes now");
    writeFileSync(policy, adopted.stdout);
    expect(adopted.stdout).toMatch(/- name: wwan0\n\s+interface: wwan0[\s\S]*- name: eth0\n/);
    expect(adopted.stdout).toContain("wlan0 (veth: no default route)");

    const valid = await cli(["validate", policy]);
    expect(valid.exitCode, valid.stdout + valid.stderr).toBe(0);

    const planned = await cli(["plan", policy, "--json", "--netns", lab().node, "--assume-health", "up"]);
    expect(planned.exitCode, planned.stderr).toBe(0);
    const doc = JSON.parse(planned.stdout) as PlanDocument;
    expect(doc.selection?.active.map((a) => a.name)).toEqual(["wwan0"]);
    // The active table's default is the route general traffic takes now; nothing in main changes.
    const active = doc.changes.filter(
      (c) => c.kind === "route" && (c.after as { table?: number } | null)?.table === 100,
    );
    expect(active.map((c) => c.after)).toEqual([
      expect.objectContaining({ dst: "0.0.0.0/0", gateway: "100.64.2.1", dev: "wwan0" }),
    ]);
    expect(
      doc.changes.filter(
        (c) =>
          c.kind === "route" &&
          [c.before, c.after].some((o) => (o as { table?: number } | null)?.table === 254),
      ),
    ).toEqual([]);

    const applied = await cli([
      "apply",
      policy,
      "--auto-approve",
      "--assume-health",
      "up",
      "--netns",
      lab().node,
    ]);
    expect(applied.exitCode, applied.stdout + applied.stderr).toBe(0);
    expect(await generalRoute()).toBe(before);
    // ...now decided by backhaul's own rules: the plan is empty on a second look.
    const again = await cli([
      "plan",
      policy,
      "--netns",
      lab().node,
      "--assume-health",
      "up",
      "--detailed-exitcode",
    ]);
    expect(again.exitCode, again.stdout + again.stderr).toBe(0);
  });

  it("refuses a namespace with no default route: exit 1, the reason on stderr, nothing on stdout", async () => {
    const r = await cli(["adopt", "--netns", lab().isp("eth0")]);
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(/^backhaul adopt: nothing to adopt: this node has no default route/);
  });
});
