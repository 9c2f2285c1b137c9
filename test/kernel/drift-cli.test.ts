// `backhaul drift` on the real kernel: after an apply it reports nothing, however often it looks; each
// kind of drift made by hand in the lab is reported exactly once, with its class.
import { staticDemoPolicy } from "../helpers/policies.js";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Ajv2020 from "ajv/dist/2020.js";
import { afterAll, beforeEach, describe, expect, it } from "vitest";
import { cliIn } from "../helpers/cli.js";
import { appliedPath } from "../../src/effects/state/applied.js";
import { demoTopology, LAB_TOOLS, requireKernel, useLab } from "../helpers/kernel.js";
import type { DriftReport } from "../../src/core/drift.js";

// Its machinery is tested on a plan that does not change by itself (test/helpers/policies.ts).
const DEMO_POLICY = staticDemoPolicy();
const schema = (name: string) =>
  JSON.parse(readFileSync(new URL(`../../schemas/${name}`, import.meta.url), "utf8")) as object;
const ajv = new Ajv2020.default({ strict: false });
ajv.addSchema(schema("plan.schema.json"));
const validReport = ajv.compile(schema("drift.schema.json"));

const QOS = `
qos:
  - interface: wwan0
    rate: 8mbit
    defaultClass: bulk
    classes:
      control: { rate: 20%, priority: 0, dscp: 46, ports: [22] }
      bulk: { rate: 80%, priority: 2 }
`;

describe.skipIf(!requireKernel([...LAB_TOOLS, "tc", "nft"]))("backhaul drift on the demo lab", () => {
  const lab = useLab(demoTopology());
  const dir = mkdtempSync(join(tmpdir(), "bhl-drift-"));
  const policy = join(dir, "policy.yaml");
  writeFileSync(policy, readFileSync(DEMO_POLICY, "utf8") + QOS);
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
    rmSync(appliedPath("/run/backhaul-lab", lab().node), { force: true });
  });
  const sh = (...argv: string[]) => lab().exec(lab().node, argv);
  const drift = async (): Promise<{ exitCode: number; report: DriftReport }> => {
    const r = await cliIn(lab().node, ["drift", policy, "--assume-health", "up", "--json"]);
    const report = JSON.parse(r.stdout) as DriftReport;
    expect(validReport(report), JSON.stringify(validReport.errors)).toBe(true);
    return { exitCode: r.exitCode, report };
  };
  const only = (r: DriftReport) => r.drift.map((d) => [d.class, d.kind, d.key]);

  beforeEach(async () => {
    // Whatever the last case broke, a fresh apply heals it and leaves foreign objects as they are.
    const r = await cliIn(lab().node, ["apply", policy, "--assume-health", "up", "--auto-approve"]);
    expect(r.exitCode, r.stderr).toBe(0);
  });

  it("reports no drift right after an apply, on every look (nothing the kernel keeps for itself counts)", async () => {
    for (let i = 0; i < 3; i++) {
      const r = await drift();
      expect(r.report.drift).toEqual([]);
      expect(r.exitCode).toBe(0);
      await new Promise((res) => setTimeout(res, 300));
    }
    const human = await cliIn(lab().node, ["drift", policy, "--assume-health", "up"]);
    expect(human.stdout).toContain("No drift: the kernel holds what the policy implies.");
  });

  it("our route deleted by hand is missing", async () => {
    await sh("ip", "route", "del", "default", "table", "102");
    const r = await drift();
    expect(r.exitCode).toBe(2);
    expect(r.report.drift).toHaveLength(1);
    expect(r.report.drift[0]).toMatchObject({ class: "missing", kind: "route", actual: null });
    expect(r.report.summary).toMatchObject({ missing: 1, total: 1 });
  });

  it("a gateway changed by hand on our route is changed", async () => {
    await sh(
      "ip",
      "route",
      "replace",
      "default",
      "via",
      "100.64.2.7",
      "dev",
      "wwan0",
      "table",
      "102",
      "proto",
      "201",
    );
    const r = await drift();
    expect(r.exitCode).toBe(2);
    expect(only(r.report)).toEqual([["changed", "route", expect.stringContaining("102")]]);
    expect(r.report.drift[0]?.actual).toMatchObject({ gateway: "100.64.2.7" });
    expect(r.report.drift[0]?.expected).toMatchObject({ gateway: "100.64.2.1" });
  });

  it("our qdisc removed by hand: the root changed back to the kernel's default, its classes and filters missing", async () => {
    await sh("tc", "qdisc", "del", "dev", "wwan0", "root");
    const r = await drift();
    expect(r.exitCode).toBe(2);
    const roots = r.report.drift.filter((d) => d.kind === "qdisc");
    expect(roots).toEqual([
      expect.objectContaining({
        class: "changed",
        key: "wwan0 root",
        expected: expect.objectContaining({ qdiscKind: "htb" }),
        actual: expect.objectContaining({ qdiscKind: "noqueue" }),
      }),
    ]);
    const rest = r.report.drift.filter((d) => d.kind !== "qdisc");
    expect(new Set(rest.map((d) => d.kind))).toEqual(new Set(["class", "filter"]));
    expect(rest.every((d) => d.class === "missing" && d.actual === null)).toBe(true);
  });

  it("a foreign rule that catches general traffic before ours is a conflict naming that rule", async () => {
    await sh("ip", "route", "add", "default", "via", "100.64.2.1", "dev", "wwan0", "table", "250");
    await sh("ip", "rule", "add", "priority", "500", "lookup", "250");
    try {
      const r = await drift();
      expect(r.exitCode).toBe(2);
      expect(only(r.report)).toEqual([["conflict", "rule", expect.stringContaining("500")]]);
      expect(r.report.drift[0]?.detail).toMatch(/foreign .*500.* decides traffic to .* instead of ours/);
      const human = await cliIn(lab().node, ["drift", policy, "--assume-health", "up"]);
      expect(human.exitCode).toBe(2);
      expect(human.stdout).toMatch(/conflict\s+rule/);
      expect(human.stdout).toContain("Summary: 0 missing, 0 changed, 0 extra, 1 conflict.");
    } finally {
      await sh("ip", "rule", "del", "priority", "500");
      await sh("ip", "route", "flush", "table", "250");
    }
  });

  it("an object of ours the policy no longer wants is extra", async () => {
    // The policy without its LTE uplink: LTE's table and source rule are ours and no longer wanted.
    const text = readFileSync(DEMO_POLICY, "utf8");
    const without = join(dir, "no-lte.yaml");
    writeFileSync(
      without,
      text.slice(0, text.indexOf("  # LTE to isp-lte")) +
        text.slice(text.indexOf("  # A phone on USB")) +
        QOS.replace("wwan0", "eth0"),
    );
    const r = await cliIn(lab().node, ["drift", without, "--assume-health", "up", "--json"]);
    const report = JSON.parse(r.stdout) as DriftReport;
    expect(r.exitCode).toBe(2);
    expect(report.drift.length).toBeGreaterThan(0);
    const extra = report.drift.filter((d) => d.class === "extra");
    expect(extra.some((d) => d.kind === "route" && d.key.includes("102"))).toBe(true);
    expect(extra.every((d) => d.expected === null && d.actual !== null)).toBe(true);
  });

  it("refuses a policy that does not load, with file:line:col, and changes nothing", async () => {
    const bad = join(dir, "bad.yaml");
    writeFileSync(bad, "uplinks:\n  - name: x\n    interfce: eth0\n");
    const r = await cliIn(lab().node, ["drift", bad]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/bad\.yaml:3:5/);
  });
});
