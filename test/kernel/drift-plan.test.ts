// After an apply, `plan` shows owned objects changed behind backhaul's back first, under their own
// heading, and plans them back.
import { cliIn } from "../helpers/cli.js";
import { rmSync } from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import { appliedPath } from "../../src/effects/state/applied.js";
import { demoTopology, LAB_TOOLS, requireKernel, useLab } from "../helpers/kernel.js";

const DEMO_POLICY = new URL("../../examples/lab-demo.yaml", import.meta.url).pathname;
/** The demo policy's daemon.stateDir. */
const STATE_DIR = "/run/backhaul-lab";

describe.skipIf(!requireKernel(LAB_TOOLS))("plan after apply shows drift", () => {
  const lab = useLab(demoTopology());
  afterAll(() => rmSync(appliedPath(STATE_DIR, lab().node), { force: true }));

  it("lists an owned route removed outside backhaul first, and plans it back", async () => {
    const applied = await cliIn(lab().node, [
      "apply",
      DEMO_POLICY,
      "--assume-health",
      "up",
      "--auto-approve",
    ]);
    expect(applied.exitCode).toBe(0);
    await lab().exec(lab().node, ["ip", "route", "del", "default", "table", "102"]);
    const r = await cliIn(lab().node, ["plan", DEMO_POLICY, "--assume-health", "up"]);
    expect(r.exitCode).toBe(0);
    const drift = r.stdout.indexOf("Objects changed outside backhaul since the last apply:");
    const changes = r.stdout.indexOf("route:");
    expect(drift).toBeGreaterThanOrEqual(0);
    expect(drift).toBeLessThan(changes);
    expect(r.stdout).toMatch(
      /- default via 100\.64\.2\.1 dev wwan0 table 102 .*\(removed outside backhaul\)/,
    );
    expect(r.stdout).toMatch(/\+ default via 100\.64\.2\.1 dev wwan0 table 102/);
    const json = await cliIn(lab().node, ["plan", DEMO_POLICY, "--assume-health", "up", "--json"]);
    const doc = JSON.parse(json.stdout) as { drift: { kind: string; after: unknown }[] };
    expect(doc.drift).toEqual([expect.objectContaining({ kind: "route", after: null })]);
  });
});
