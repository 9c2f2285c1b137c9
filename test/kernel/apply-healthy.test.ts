// `backhaul apply --confirm-when-healthy` on the demo lab: a change the policy's probes pass through
// confirms itself and stays; one they do not pass through (a gray-failed uplink) is reverted to the
// exact state before, also when the CLI that applied it is killed while it probes.
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { canonicalState } from "../../src/kinds/registry.js";
import type { KernelState } from "../../src/kinds/types.js";
import { observe } from "../../src/effects/observe.js";
import { pendingPath } from "../../src/effects/state/pending.js";
import { BUILT_MAIN, cliIn } from "../helpers/cli.js";
import { demoTopology, LAB_TOOLS, requireKernel, useLab } from "../helpers/kernel.js";

const DEMO_POLICY = new URL("../../examples/lab-demo.yaml", import.meta.url).pathname;

const full = async (netns: string): Promise<KernelState> => canonicalState(await observe({ netns }));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(check: () => Promise<boolean> | boolean, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error("timed out waiting");
    await sleep(50);
  }
}

describe.skipIf(!requireKernel(LAB_TOOLS))("backhaul apply --confirm-when-healthy on the demo lab", () => {
  const lab = useLab(demoTopology());
  // The demo policy with a state directory of its own, apart from other tests' applies.
  const dir = mkdtempSync(join(tmpdir(), "bhl-healthy-"));
  const stateDir = join(dir, "state");
  const policy = join(dir, "policy.yaml");
  writeFileSync(
    policy,
    readFileSync(DEMO_POLICY, "utf8")
      .replace("stateDir: /run/backhaul-lab", `stateDir: ${stateDir}`)
      .replace("statusSocket: /run/backhaul-lab/status.sock", `statusSocket: ${stateDir}/status.sock`),
  );
  const pendingFile = () => pendingPath(stateDir, lab().node);
  afterAll(() => {
    // A reverter left by a failed test must not outlive the lab.
    try {
      const left = JSON.parse(readFileSync(pendingFile(), "utf8")) as {
        data: { reverter?: { pid: number } };
      };
      if (left.data.reverter) process.kill(left.data.reverter.pid, "SIGKILL");
    } catch {
      // Nothing pending: the normal case.
    }
    rmSync(dir, { recursive: true, force: true });
  });
  const toLte = ["--assume-health", "up,down:fibre", "--auto-approve"];

  it("a change the probes pass through confirms itself and stays, also past its deadline", async () => {
    // The first apply moves the SSH peer's route: --confirm-when-healthy satisfies the guard.
    const ssh = { SSH_CONNECTION: "203.0.113.50 51234 100.64.1.2 22" };
    const r = await cliIn(
      lab().node,
      ["apply", policy, "--assume-health", "up", "--auto-approve", "--confirm-when-healthy=2s", "--json"],
      ssh,
    );
    expect(r.stderr).toBe("");
    expect(r.exitCode).toBe(0);
    const out = JSON.parse(r.stdout) as { outcome: string; confirmed: string; health: string };
    expect(out).toMatchObject({ outcome: "applied", confirmed: "healthy" });
    expect(out.health).toContain("fibre's own path (from 100.64.1.2): ");
    expect(out.health).toContain("the general path: ");
    expect(existsSync(pendingFile())).toBe(false);
    const applied = await full(lab().node);
    // Past the deadline nothing reverts it: the kernel still holds the new state, and plan agrees.
    await sleep(2500);
    expect(await full(lab().node)).toEqual(applied);
    const plan = await cliIn(lab().node, ["plan", policy, "--assume-health", "up", "--detailed-exitcode"]);
    expect(plan.exitCode, plan.stdout + plan.stderr).toBe(0);
  });

  it("a change through a gray-failed uplink is reverted to the exact state before", async () => {
    const pre = await full(lab().node);
    await lab().grayFailure("wwan0");
    try {
      const r = await cliIn(lab().node, ["apply", policy, ...toLte, "--confirm-when-healthy=2s", "--json"]);
      expect(r.exitCode, r.stderr).toBe(1);
      const out = JSON.parse(r.stdout) as { outcome: string; message: string; executed: number };
      expect(out.outcome).toBe("rolled-back");
      expect(out.executed).toBeGreaterThan(0);
      expect(out.message).toContain("the probes did not pass through the new state");
      expect(out.message).toContain("lte's own path (from 100.64.2.2): 0/2 answered");
      expect(out.message).toContain("Reverted");
      expect(existsSync(pendingFile())).toBe(false);
      expect(await full(lab().node)).toEqual(pre);
    } finally {
      await lab().heal("wwan0");
    }
  });

  it("a killed CLI still gets its revert: the reverter undoes the change at the deadline", async () => {
    const pre = await full(lab().node);
    await lab().grayFailure("wwan0");
    try {
      const child = spawn(
        "ip",
        [
          "netns",
          "exec",
          lab().node,
          process.execPath,
          BUILT_MAIN,
          "apply",
          policy,
          ...toLte,
          "--confirm-when-healthy=3s",
        ],
        { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, BACKHAUL_NETNS: lab().node } },
      );
      let out = "";
      child.stdout.on("data", (d: Buffer) => (out += d.toString()));
      const exited = new Promise<NodeJS.Signals | null>((resolve) =>
        child.once("exit", (_c, s) => resolve(s)),
      );
      await waitFor(() => out.includes("Probing "));
      child.kill("SIGKILL");
      expect(await exited).toBe("SIGKILL");
      expect(await full(lab().node)).not.toEqual(pre);
      await waitFor(async () => !existsSync(pendingFile()), 20_000);
      expect(await full(lab().node)).toEqual(pre);
      expect(readFileSync(`${pendingFile()}.log`, "utf8")).toContain("not confirmed in time");
    } finally {
      await lab().heal("wwan0");
    }
  });
});
