// `backhaul plan` end to end on the demo lab: the real CLI, re-run inside the node's namespace.
import { cli } from "../helpers/cli.js";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { validatePlanDocument } from "../../src/effects/plan-file.js";
import { demoTopology, LAB_TOOLS, requireKernel, useLab } from "../helpers/kernel.js";

const DEMO_POLICY = new URL("../../examples/lab-demo.yaml", import.meta.url).pathname;
describe.skipIf(!requireKernel(LAB_TOOLS))("backhaul plan on the demo lab", () => {
  const lab = useLab(demoTopology());
  const dir = mkdtempSync(join(tmpdir(), "bhl-plan-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("plans the routing scheme, names the chosen uplink and why, and exits 2 with --detailed-exitcode", async () => {
    const r = await cli([
      "plan",
      DEMO_POLICY,
      "--netns",
      lab().node,
      "--assume-health",
      "up",
      "--detailed-exitcode",
    ]);
    expect(r.stderr).toBe("");
    expect(r.exitCode).toBe(2);
    expect(r.stdout).toContain("Selection: fibre chosen");
    expect(r.stdout).toMatch(/\+ default via 100\.64\.1\.1 dev eth0 table 100 .*proto 201/);
    expect(r.stdout).toContain("+ 1001: from 100.64.1.2/32 lookup 101");
    expect(r.stdout).toMatch(/^Plan: \d+ to add, \d+ to change, 0 to destroy\.$/m);
    // Planning changes nothing.
    const rules = await lab().exec(lab().node, ["ip", "rule"]);
    expect(rules.stdout.trim().split("\n")).toHaveLength(3);
  });

  it("prints a document that follows schemas/plan.schema.json, and saves it with --out", async () => {
    const out = join(dir, "plan.json");
    const r = await cli([
      "plan",
      DEMO_POLICY,
      "--netns",
      lab().node,
      "--assume-health",
      "up",
      "--json",
      "--out",
      out,
    ]);
    expect(r.exitCode).toBe(0);
    const doc = JSON.parse(r.stdout) as unknown;
    expect(validatePlanDocument(doc)).toMatchObject({ ok: true });
    expect(JSON.parse(readFileSync(out, "utf8"))).toEqual(doc);
  });

  it("--explain names the policy lines behind each change", async () => {
    const r = await cli(["plan", DEMO_POLICY, "--netns", lab().node, "--assume-health", "up", "--explain"]);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/from .*lab-demo\.yaml:\d+:\d+ \(\/uplinks\/0\)/);
    expect(r.stdout).toMatch(/from .*lab-demo\.yaml:\d+:\d+ \(\/routing\/priorities\)/);
    expect(r.stdout).toContain("+ nft table inet backhaul: masquerade 100.64.50.0/24 out eth0, wwan0, usb0");
    const natLine = readFileSync(DEMO_POLICY, "utf8").split("\n").indexOf("  nat: true") + 1;
    expect(r.stdout).toMatch(new RegExp(`from .*lab-demo\\.yaml:${natLine}:\\d+ \\(/hotspot/nat\\)`));
  });

  it("with an uplink assumed down, general traffic goes to the next one", async () => {
    const r = await cli(["plan", DEMO_POLICY, "--netns", lab().node, "--assume-health", "up,down:fibre"]);
    expect(r.stdout).toContain("Selection: lte chosen");
    expect(r.stdout).toMatch(/\+ default via 100\.64\.2\.1 dev wwan0 table 100/);
  });

  it("marks the op that moves the operator's SSH session as management-path", async () => {
    const r = await cli(["plan", DEMO_POLICY, "--netns", lab().node, "--assume-health", "up", "--json"], {
      SSH_CONNECTION: "203.0.113.50 51234 100.64.1.2 22",
    });
    const doc = JSON.parse(r.stdout) as { changes: { disruption: string; key: string }[] };
    expect(doc.changes.filter((c) => c.disruption === "management-path").length).toBeGreaterThan(0);
  });

  it("without a probe-able path and no --assume-health, no uplink is usable and the reason says why", async () => {
    const r = await cli(["plan", DEMO_POLICY, "--netns", lab().node]);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain("its own path is not in place yet");
  });

  it("plans the QoS tree of a shaped uplink, readable, and writes nothing", async () => {
    const policy = join(dir, "qos.yaml");
    writeFileSync(
      policy,
      `${readFileSync(DEMO_POLICY, "utf8")}\nqos:\n  - interface: eth0\n    rate: 20mbit\n    classes:\n      control: { ports: [22] }\n      bulk: {}\n`,
    );
    const r = await cli(["plan", policy, "--netns", lab().node, "--assume-health", "up", "--explain"]);
    expect(r.stderr).toBe("");
    expect(r.stdout).toMatch(/from .*qos\.yaml:\d+:\d+ \(\/qos\/0\/classes\/control\)/);
    expect(r.stdout).toMatch(/~ noqueue 0: dev eth0 root → htb 1: dev eth0 root default 1:10/);
    expect(r.stdout).toContain("+ htb 1:10 dev eth0 parent 1:1 rate 12mbit ceil 20mbit prio 2");
    expect(r.stdout).toMatch(
      /\+ u32 800::\w+ dev eth0 parent 1: protocol all pref 10 ip tcp dport 22 flowid 1:20/,
    );
    const qdiscs = await lab().exec(lab().node, ["tc", "qdisc", "show", "dev", "eth0"]);
    expect(qdiscs.stdout).not.toContain("htb");
  });

  it("refuses a bad policy with file:line:col and plans nothing", async () => {
    const bad = join(dir, "bad.yaml");
    writeFileSync(bad, readFileSync(DEMO_POLICY, "utf8").replace("strategy: failover", "strategy: failovr"));
    const r = await cli(["plan", bad, "--netns", lab().node, "--assume-health", "up"]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/bad\.yaml:\d+:\d+: error:/);
    expect(r.stderr).toContain("nothing planned");
  });

  it("refuses an --assume-health naming an unknown uplink", async () => {
    const r = await cli(["plan", DEMO_POLICY, "--netns", lab().node, "--assume-health", "up:nope"]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain('no uplink named "nope"');
  });
});
