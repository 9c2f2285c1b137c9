// apply executes traffic-control ops too: the policy's QoS tree goes in through `tc -batch`, a second
// apply changes nothing, and a failure at a tc op rolls everything back.
import { cliIn } from "../helpers/cli.js";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { appliedPath } from "../../src/effects/state/applied.js";
import { afterAll, describe, expect, it } from "vitest";
import { canonicalState } from "../../src/kinds/registry.js";
import type { KernelState } from "../../src/kinds/types.js";
import { observe } from "../../src/effects/observe.js";
import { run } from "../../src/effects/exec.js";
import { demoTopology, LAB_TOOLS, requireKernel, useLab } from "../helpers/kernel.js";

const DEMO_POLICY = new URL("../../examples/lab-demo.yaml", import.meta.url).pathname;

const QOS = `
qos:
  - interface: wwan0
    rate: 8mbit
    defaultClass: bulk
    classes:
      control: { rate: 20%, priority: 0, dscp: 46, ports: [22] }
      bulk: { rate: 80%, priority: 2 }
`;

const tcState = async (netns: string): Promise<KernelState> =>
  canonicalState(await observe({ netns, kinds: ["qdisc", "class", "filter"] }));

describe.skipIf(!requireKernel([...LAB_TOOLS, "tc"]))("apply with QoS on the demo lab", () => {
  const lab = useLab(demoTopology());
  const dir = mkdtempSync(join(tmpdir(), "bhl-qos-"));
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
    rmSync(appliedPath("/run/backhaul-lab", lab().node), { force: true });
  });
  const policy = join(dir, "policy.yaml");
  writeFileSync(policy, readFileSync(DEMO_POLICY, "utf8") + QOS);
  const apply = (env: Record<string, string> = {}) =>
    cliIn(lab().node, ["apply", policy, "--assume-health", "up", "--auto-approve", "--json"], env);

  it("a failure at the first tc op rolls back the routes and sysctls that went in before it", async () => {
    const before = canonicalState(await observe({ netns: lab().node }));
    const plan = await cliIn(lab().node, ["plan", policy, "--assume-health", "up", "--json"]);
    const ops = (JSON.parse(plan.stdout) as { ops: { kind: string }[] }).ops;
    const firstTc = ops.findIndex((o) => o.kind === "qdisc");
    expect(firstTc).toBeGreaterThan(0);
    const r = await apply({ BACKHAUL_FAULT: `fail-at:${firstTc}` });
    expect(r.exitCode).toBe(1);
    expect(canonicalState(await observe({ netns: lab().node }))).toEqual(before);
  });

  it("installs the HTB tree with its classes and filters, then a second apply changes nothing", async () => {
    const r = await apply();
    expect(r.exitCode).toBe(0);
    const tc = await tcState(lab().node);
    const wwan = (o: { dev: string }) => o.dev === "wwan0";
    expect(tc.qdisc.filter(wwan).map((q) => [q.parent, q.handle, q.qdiscKind])).toEqual([
      ["root", "1:", "htb"],
    ]);
    expect(tc.class.filter(wwan).map((c) => c.classid)).toEqual(["1:1", "1:10", "1:20"]);
    expect(tc.filter.filter(wwan).length).toBeGreaterThan(0);
    const shown = await run(["tc", "class", "show", "dev", "wwan0"], { netns: lab().node });
    expect(shown.stdout).toMatch(/class htb 1:1 root rate 8Mbit/);
    const again = await apply();
    expect(again.exitCode).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ writing_processes: 0 });
  });
});
