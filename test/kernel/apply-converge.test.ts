// `backhaul apply` on a fresh node, health measured (no --assume-health), in the demo lab: one run
// builds each uplink's own path, measures the uplinks through them, and gives general traffic its
// route; it says what carries traffic, and says plainly (exit 4) when nothing can.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { run } from "../../src/effects/exec.js";
import { cliIn } from "../helpers/cli.js";
import { demoTopology, LAB_TOOLS, requireKernel, useLab } from "../helpers/kernel.js";
import { DEMO_POLICY_FILE, withoutDhcp } from "../helpers/policies.js";

describe.skipIf(!requireKernel(LAB_TOOLS))("one apply converges on a fresh node", () => {
  const lab = useLab(demoTopology());
  const dir = mkdtempSync(join(tmpdir(), "bhl-converge-"));
  const policy = join(dir, "policy.yaml");
  // Without the phone's DHCP client: the convergence asked for here is the probes', not the lease's.
  writeFileSync(
    policy,
    withoutDhcp(readFileSync(DEMO_POLICY_FILE, "utf8"))
      .replace("stateDir: /run/backhaul-lab", `stateDir: ${dir}/state`)
      .replace("statusSocket: /run/backhaul-lab/status.sock", `statusSocket: ${dir}/status.sock`),
  );
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const apply = () => cliIn(lab().node, ["apply", policy, "--auto-approve", "--json"]);
  const routeDev = async (): Promise<string | undefined> => {
    const r = await run(["ip", "-j", "route", "get", "198.51.100.10"], {
      netns: lab().node,
      allowFailure: true,
    });
    return r.exitCode === 0 ? (JSON.parse(r.stdout) as { dev: string }[])[0]?.dev : undefined;
  };

  it("builds the uplinks' paths, measures them through themselves and routes general traffic, in one run", async () => {
    expect(await routeDev()).toBeUndefined();
    const r = await apply();
    expect(r.exitCode, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(out).toMatchObject({ outcome: "applied", active: ["fibre"], then: { transactions: 1 } });
    expect(await routeDev()).toBe("eth0");
    const again = await apply();
    expect(JSON.parse(again.stdout)).toMatchObject({ outcome: "no-changes" });
  });

  it("says plainly, with exit code 4, when no uplink is usable and general traffic has no route", async () => {
    // Fresh again: the general route goes, and every ISP drops everything.
    await cliIn(lab().node, ["apply", policy, "--auto-approve", "--assume-health", "down"]);
    for (const iface of ["eth0", "wwan0"]) await lab().grayFailure(iface);
    const withdraw = join(dir, "withdraw.yaml");
    writeFileSync(
      withdraw,
      readFileSync(policy, "utf8").replace("noUsableUplink: keep-last", "noUsableUplink: withdraw"),
    );
    const r = await cliIn(lab().node, ["apply", withdraw, "--auto-approve", "--json"]);
    expect(r.exitCode, r.stderr).toBe(4);
    expect(JSON.parse(r.stdout)).toMatchObject({ outcome: "applied", active: [], general_route: false });
    // Applied again: nothing to change, and still no route, said the same way.
    const human = await cliIn(lab().node, ["apply", withdraw, "--auto-approve"]);
    expect(human.exitCode).toBe(4);
    expect(human.stdout).toContain("No changes.");
    expect(human.stdout).toMatch(/No uplink is usable, so general traffic has no route: /);
    for (const iface of ["eth0", "wwan0"]) await lab().heal(iface);
  });
});
