// `backhaul apply` end to end on the demo lab: the real CLI inside the node's namespace, the real
// kernel, failures injected at every op, a device vanishing mid-plan, SIGKILL mid-apply.
import { staticDemoPolicy } from "../helpers/policies.js";
import { cli, cliIn } from "../helpers/cli.js";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { appliedPath } from "../../src/effects/state/applied.js";
import { afterAll, describe, expect, it } from "vitest";
import { executeOps } from "../../src/effects/apply/execute.js";
import { canonicalState } from "../../src/kinds/registry.js";
import type { KernelState, Op, Route, Rule } from "../../src/kinds/types.js";
import { observe } from "../../src/effects/observe.js";
import { journalPath } from "../../src/effects/state/journal.js";
import { acquireLock, lockPath } from "../../src/effects/state/lock.js";
import { run } from "../../src/effects/exec.js";
import { demoTopology, ipJson, LAB_TOOLS, requireKernel, useLab } from "../helpers/kernel.js";
import { BUILT_MAIN } from "../helpers/cli.js";

// Its machinery is tested on a plan that does not change by itself (test/helpers/policies.ts).
const DEMO_POLICY = staticDemoPolicy();
/** The demo policy's daemon.stateDir. */
const STATE_DIR = "/run/backhaul-lab";
const OPS_IN_DEMO_PLAN = 14;

const full = async (netns: string): Promise<KernelState> => canonicalState(await observe({ netns }));

describe.skipIf(!requireKernel(LAB_TOOLS))("backhaul apply on the demo lab", () => {
  const lab = useLab(demoTopology());
  const dir = mkdtempSync(join(tmpdir(), "bhl-apply-"));
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
    rmSync(appliedPath(STATE_DIR, lab().node), { force: true });
    // A reverter left by a failed test must not outlive the lab.
    try {
      const left = JSON.parse(readFileSync(pendingFile(), "utf8")) as {
        data: { reverter?: { pid: number } };
      };
      if (left.data.reverter) process.kill(left.data.reverter.pid, "SIGKILL");
    } catch {
      // Nothing pending: the normal case.
    }
    rmSync(pendingFile(), { force: true });
    rmSync(`${pendingFile()}.log`, { force: true });
  });
  const apply = (extra: readonly string[], env: Record<string, string> = {}) =>
    cliIn(lab().node, ["apply", DEMO_POLICY, "--assume-health", "up", ...extra], env);
  let pre: KernelState;

  it("a failure injected at every op index is rolled back to the exact state before", async () => {
    pre = await full(lab().node);
    for (let k = 0; k < OPS_IN_DEMO_PLAN; k++) {
      const r = await apply(["--auto-approve", "--json"], { BACKHAUL_FAULT: `fail-at:${k}` });
      expect(r.exitCode, r.stderr).toBe(1);
      const out = JSON.parse(r.stdout) as { outcome: string; executed: number; ops: number; message: string };
      expect(out).toMatchObject({ outcome: "rolled-back", executed: k, ops: OPS_IN_DEMO_PLAN });
      // The error once, in the JSON.
      expect(out.message).toContain(`op ${k} (`);
      expect(r.stderr).not.toContain(`op ${k} (`);
      expect(await full(lab().node)).toEqual(pre);
    }
    // One apply and one full observation per op: minutes, not the default minute, on a busy machine.
  }, 240_000);

  it("a failure after the last op is named as such, not as an op's, and rolled back", async () => {
    const r = await apply(["--auto-approve", "--json"], { BACKHAUL_FAULT: `fail-at:${OPS_IN_DEMO_PLAN}` });
    expect(r.exitCode, r.stderr).toBe(1);
    expect(JSON.parse(r.stdout)).toMatchObject({
      outcome: "rolled-back",
      executed: OPS_IN_DEMO_PLAN,
      message: expect.stringMatching(
        new RegExp(`^after all ${OPS_IN_DEMO_PLAN} op\\(s\\) had run: injected failure`),
      ),
    });
    expect(await full(lab().node)).toEqual(pre);
  });

  it("a foreign route holding the place of one of ours: refused (outcome refused), nothing changed", async () => {
    // Fibre's own table's default route, put there by someone else (proto boot): ours to replace never.
    await lab().addForeignRoute(["default", "via", "100.64.1.1", "dev", "eth0", "table", "101"]);
    try {
      const before = await full(lab().node);
      const r = await apply(["--auto-approve", "--json"]);
      expect(r.exitCode).toBe(1);
      const out = JSON.parse(r.stdout) as { outcome: string; message: string };
      expect(out.outcome).toBe("refused");
      expect(out.message).toMatch(/^refused: .*foreign/);
      expect(r.stderr).toBe("");
      expect(await full(lab().node)).toEqual(before);
    } finally {
      await lab().exec(lab().node, ["ip", "route", "del", "default", "table", "101"]);
    }
  });

  it("a device vanishing mid-plan fails its op, names it, and rolls back", async () => {
    const go = join(dir, "go-vanish");
    const child = apply(["--auto-approve"], { BACKHAUL_FAULT: `pause-at:6:${go}` });
    // Op 6 is the route via wwan0 in table 102 (after four sysctls and two routes); ops 0-5 ran.
    await waitFor(() => rulesAndRoutes(lab().node).then((s) => s.routes.length === 2));
    await lab().removeInterface("wwan0");
    writeFileSync(go, "");
    const r = await child;
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(
      /op 6 \(add route default via 100\.64\.2\.1 dev wwan0 table 102.*failed: .*(Cannot find device|No such device)/,
    );
    expect(r.stderr).toContain("Rolled back");
    expect(await rulesAndRoutes(lab().node)).toEqual({ rules: 3, routes: [] });
    await lab().restoreInterface("wwan0");
    pre = await full(lab().node);
  });

  it("a second writer is told who holds the lock, and changes nothing", async () => {
    const held = acquireLock(lockPath(STATE_DIR, lab().node), "test holder");
    try {
      const r = await apply(["--auto-approve"]);
      expect(r.exitCode).toBe(1);
      expect(r.stderr).toContain(`test holder by`);
      expect(r.stderr).toContain(`pid ${process.pid}`);
      expect(r.stderr).toContain(`backhaul force-unlock ${held.record.id}`);
    } finally {
      held.release();
    }
    expect(await full(lab().node)).toEqual(pre);
  });

  it("force-unlock removes a lock only by its id", async () => {
    const held = acquireLock(lockPath(STATE_DIR, lab().node), "test holder");
    try {
      const wrong = await cliIn(lab().node, ["force-unlock", "not-the-id", DEMO_POLICY]);
      expect(wrong.exitCode).toBe(1);
      expect(wrong.stderr).toContain(`held under id ${held.record.id}`);
      const right = await cli(["force-unlock", held.record.id, DEMO_POLICY, "--netns", lab().node]);
      expect(right.exitCode).toBe(0);
      expect(right.stdout).toContain(`Removed the lock ${held.record.id}`);
    } finally {
      held.release();
    }
  });

  it("refuses a plan that moves the operator's SSH route, naming the op, unless --allow-mgmt-change", async () => {
    const ssh = { SSH_CONNECTION: "203.0.113.50 51234 100.64.1.2 22" };
    const refused = await apply(["--auto-approve"], ssh);
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr).toMatch(
      /refused: the plan moves the route of your SSH session .*op \d+ \(add rule/,
    );
    expect(await full(lab().node)).toEqual(pre);
    // With the option the plan goes to execution (stopped there by the fault hook, and rolled back).
    const allowed = await apply(["--auto-approve", "--allow-mgmt-change"], {
      ...ssh,
      BACKHAUL_FAULT: `fail-at:${OPS_IN_DEMO_PLAN - 1}`,
    });
    expect(allowed.stderr).toContain("Rolled back");
    expect(await full(lab().node)).toEqual(pre);
  });

  it('refuses a saved plan as "Saved plan is stale" when the kernel or the policy changed', async () => {
    const file = join(dir, "plan.json");
    const made = await cliIn(lab().node, ["plan", DEMO_POLICY, "--assume-health", "up", "--out", file]);
    expect(made.exitCode).toBe(0);
    await lab().exec(lab().node, [
      "ip",
      "rule",
      "add",
      "priority",
      "1001",
      "from",
      "100.64.1.2",
      "lookup",
      "101",
      "proto",
      "201",
    ]);
    const r = await cliIn(lab().node, ["apply", file, "--assume-health", "up"]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain("Saved plan is stale");
    expect(r.stderr).toContain("rule 1001: from 100.64.1.2/32 lookup 101 already exists");
    await lab().exec(lab().node, ["ip", "rule", "del", "priority", "1001"]);

    const policy = join(dir, "policy.yaml");
    writeFileSync(policy, readFileSync(DEMO_POLICY, "utf8"));
    const made2 = await cliIn(lab().node, ["plan", policy, "--assume-health", "up", "--out", file]);
    expect(made2.exitCode).toBe(0);
    writeFileSync(policy, readFileSync(DEMO_POLICY, "utf8").replace("switchMargin: 25", "switchMargin: 60"));
    const r2 = await cliIn(lab().node, ["apply", file, "--assume-health", "up"]);
    expect(r2.exitCode).toBe(1);
    expect(r2.stderr).toContain("Saved plan is stale");
    expect(r2.stderr).toContain(`the policy ${policy} changed since the plan was made`);
    expect(await full(lab().node)).toEqual(pre);
  });

  it("after SIGKILL mid-apply, the next apply finds the journal and restores the state before", async () => {
    for (const k of [3, 8]) {
      const killed = await killedAt(lab().node, k);
      expect(killed).toBe("SIGKILL");
      expect(readFileSync(journalPath(STATE_DIR, lab().node), "utf8")).toContain('"phase": "applying"');
      // Recovery runs first; the apply after it is stopped at op 0 so the lab stays at its pre-state.
      const r = await apply(["--auto-approve", "--json"], { BACKHAUL_FAULT: "fail-at:0" });
      const out = JSON.parse(r.stdout) as { recovered: { ok: boolean; executed: number }; outcome: string };
      expect(out.recovered).toMatchObject({ ok: true, executed: k });
      expect(out.outcome).toBe("rolled-back");
      expect(await full(lab().node)).toEqual(pre);
    }
  });

  /**
   * `ip route get` to a probe target resolves to a unicast route through a device that is up, or fails
   * exactly as it did before the first apply (`before`: main then holds no route to it).
   */
  const neverBlackholed = async (when: string, before?: string) => {
    const got = await run(["ip", "-j", "route", "get", "198.51.100.10"], {
      netns: lab().node,
      allowFailure: true,
    });
    if (got.exitCode !== 0 && before !== undefined) {
      expect(got.stderr.trim(), when).toBe(before);
      return;
    }
    expect(got.exitCode, `${when}: ${got.stderr}`).toBe(0);
    const [route] = JSON.parse(got.stdout) as { type?: string; dev?: string }[];
    expect(route?.type ?? "unicast", when).toBe("unicast");
    expect(route?.dev, when).toBeDefined();
    const [link] = await ipJson<{ flags: string[] }[]>(lab().node, ["link", "show", "dev", route!.dev!]);
    expect(link?.flags, `${when}: dev ${route!.dev}`).toEqual(expect.arrayContaining(["UP", "LOWER_UP"]));
  };

  it("the first apply killed mid-way never leaves a blackhole: paused, after SIGKILL, after recovery", async () => {
    const first = await run(["ip", "route", "get", "198.51.100.10"], {
      netns: lab().node,
      allowFailure: true,
    });
    const before = first.exitCode === 0 ? undefined : first.stderr.trim();
    await neverBlackholed("before any apply", before);
    for (const k of [1, 5, 9]) {
      const killed = await killedAt(lab().node, k, () => neverBlackholed(`paused before op ${k}`, before));
      expect(killed).toBe("SIGKILL");
      await neverBlackholed(`after SIGKILL before op ${k}`, before);
      const r = await apply(["--auto-approve", "--json"], { BACKHAUL_FAULT: "fail-at:0" });
      expect(JSON.parse(r.stdout)).toMatchObject({ recovered: { ok: true, executed: k } });
      await neverBlackholed(`after recovery from a kill before op ${k}`, before);
    }
    expect(await full(lab().node)).toEqual(pre);
  });

  it("a kernel that does not hold the plan's result after execution fails verification and is rolled back", async () => {
    const go = join(dir, "go-verify");
    // The pause sits after the last op, before verification: someone removes one of our routes there.
    const child = apply(["--auto-approve"], { BACKHAUL_FAULT: `pause-at:${OPS_IN_DEMO_PLAN}:${go}` });
    await waitFor(() => rulesAndRoutes(lab().node).then((s) => s.rules === 7));
    await lab().exec(lab().node, ["ip", "route", "del", "default", "table", "101"]);
    writeFileSync(go, "");
    const r = await child;
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain(
      "verification failed: the kernel differs from the plan's result in 1 owned object(s): add route default via 100.64.1.1 dev eth0 table 101",
    );
    expect(r.stderr).toContain("Rolled back");
    expect(await full(lab().node)).toEqual(pre);
  });

  it("a fresh saved plan is applied without a prompt: the kernel holds the desired state", async () => {
    const file = join(dir, "fresh.json");
    expect(
      (await cliIn(lab().node, ["plan", DEMO_POLICY, "--assume-health", "up", "--out", file])).exitCode,
    ).toBe(0);
    const r = await cli(["apply", file, "--netns", lab().node, "--assume-health", "up"]);
    expect(r.stderr).toBe("");
    expect(r.exitCode).toBe(0);
    // One ip batch, one nft batch, the hotspot's access point and its DHCP server (sysctls are written
    // by this process).
    expect(r.stdout).toContain(`Applied ${OPS_IN_DEMO_PLAN} ops in 4 writing process(es)`);
    const rules = await ipJson<{ priority: number; table?: string; src?: string }[]>(lab().node, ["rule"]);
    expect(rules.map((x) => [x.priority, x.src ?? "all", x.table])).toEqual([
      [0, "all", "local"],
      [1000, "all", "main"],
      [1001, "100.64.1.2", "101"],
      [1002, "100.64.2.2", "102"],
      [1099, "all", "100"],
      [32766, "all", "main"],
      [32767, "all", "default"],
    ]);
    const ours = (
      await ipJson<{ dst: string; gateway?: string; dev: string; table?: string; protocol?: string }[]>(
        lab().node,
        ["route", "show", "table", "all", "proto", "201"],
      )
    ).map((x) => `${x.table} ${x.dst} via ${x.gateway} dev ${x.dev}`);
    expect(ours.sort()).toEqual([
      "100 default via 100.64.1.1 dev eth0",
      "101 default via 100.64.1.1 dev eth0",
      "102 default via 100.64.2.1 dev wwan0",
    ]);
    const get = await ipJson<{ gateway?: string; dev: string }[]>(lab().node, [
      "route",
      "get",
      "198.51.100.10",
    ]);
    expect(get[0]).toMatchObject({ gateway: "100.64.1.1", dev: "eth0" });
    const rp = await lab().exec(lab().node, ["sysctl", "-n", "net.ipv4.conf.eth0.rp_filter"]);
    expect(rp.stdout.trim()).toBe("2");
  });

  it('a second apply prints "No changes" and runs no writing process', async () => {
    const r = await apply(["--auto-approve"]);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain("No changes");
    const j = await apply(["--auto-approve", "--json"]);
    expect(JSON.parse(j.stdout)).toMatchObject({ outcome: "no-changes", writing_processes: 0 });
  });

  it("a failover killed at every op never leaves a blackhole: paused, after SIGKILL, after recovery", async () => {
    const plan = await cliIn(lab().node, ["plan", DEMO_POLICY, "--assume-health", "up,down:fibre", "--json"]);
    const n = (JSON.parse(plan.stdout) as { ops: unknown[] }).ops.length;
    expect(n).toBeGreaterThan(0);
    const applied = await full(lab().node);
    for (let k = 0; k < n; k++) {
      const killed = await killedAt(lab().node, k, () => neverBlackholed(`failover paused before op ${k}`), [
        "--assume-health",
        "up,down:fibre",
      ]);
      expect(killed).toBe("SIGKILL");
      await neverBlackholed(`failover killed before op ${k}`);
      const r = await apply(["--auto-approve", "--json"]);
      expect(JSON.parse(r.stdout)).toMatchObject({ recovered: { ok: true, executed: k } });
      await neverBlackholed(`after recovery from a failover killed before op ${k}`);
    }
    expect(await full(lab().node)).toEqual(applied);
  });

  const activeGateway = async () =>
    (await ipJson<{ gateway?: string }[]>(lab().node, ["route", "show", "table", "100", "default"]))[0]
      ?.gateway;
  const pendingFile = () => join(STATE_DIR, "pending", `${lab().node}.json`);
  const reverterPid = () =>
    (JSON.parse(readFileSync(pendingFile(), "utf8")) as { data: { reverter: { pid: number } } }).data.reverter
      .pid;
  const alive = (pid: number) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  const toLte = ["--assume-health", "up,down:fibre", "--auto-approve"];

  it("--confirm-within: a change not confirmed is reverted at its deadline by a process of its own", async () => {
    // The switch to LTE moves the SSH peer's route: --confirm-within is enough to allow it.
    const ssh = { SSH_CONNECTION: "203.0.113.50 51234 100.64.1.2 22" };
    // Deadlines leave room for the CLI to finish its apply on a loaded machine: a revert before the
    // CLI returns would be right, but not what this test is after.
    const r = await cliIn(lab().node, ["apply", DEMO_POLICY, ...toLte, "--confirm-within", "8s"], ssh);
    expect(r.stderr).toBe("");
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/reverted at .* unless you run `backhaul confirm --netns bhl/);
    expect(await activeGateway()).toBe("100.64.2.1");
    const pid = reverterPid();
    // The CLI that applied the change is gone; the revert still comes.
    await waitFor(async () => (await activeGateway()) === "100.64.1.1" && !alive(pid), 40_000);
    expect(() => readFileSync(pendingFile())).toThrow(/ENOENT/);
  });

  it("backhaul confirm keeps the change and stops its reverter; revert undoes one now", async () => {
    const r = await cliIn(lab().node, ["apply", DEMO_POLICY, ...toLte, "--confirm-within", "60s"]);
    expect(r.exitCode).toBe(0);
    const pid = reverterPid();
    const c = await cliIn(lab().node, ["confirm", DEMO_POLICY]);
    expect(c.stdout).toContain("Confirmed");
    await waitFor(async () => !alive(pid));
    expect(await activeGateway()).toBe("100.64.2.1");
    expect((await cliIn(lab().node, ["confirm", DEMO_POLICY])).stderr).toContain("no change is waiting");

    const back = await cliIn(lab().node, [
      "apply",
      DEMO_POLICY,
      "--assume-health",
      "up",
      "--auto-approve",
      "--confirm-within",
      "60s",
    ]);
    expect(back.exitCode).toBe(0);
    expect(await activeGateway()).toBe("100.64.1.1");
    const pid2 = reverterPid();
    const v = await cliIn(lab().node, ["revert", DEMO_POLICY]);
    expect(v.stdout).toContain("Reverted");
    expect(await activeGateway()).toBe("100.64.2.1");
    await waitFor(async () => !alive(pid2));
  });

  it("--confirm-within again while a change is pending extends its deadline; the same reverter honours it", async () => {
    // The lab is on LTE here; the change under test goes back to fibre.
    const toFibre = ["apply", DEMO_POLICY, "--assume-health", "up", "--auto-approve"];
    const first = await cliIn(lab().node, [...toFibre, "--confirm-within", "20s"]);
    expect(first.exitCode).toBe(0);
    expect(await activeGateway()).toBe("100.64.1.1");
    const pid = reverterPid();
    const deadlineOf = () =>
      Date.parse(
        (JSON.parse(readFileSync(pendingFile(), "utf8")) as { data: { deadline: string } }).data.deadline,
      );
    const firstDeadline = deadlineOf();
    const again = await cliIn(lab().node, [...toFibre, "--confirm-within", "30s"]);
    expect(again.stderr).toBe("");
    expect(again.exitCode).toBe(0);
    expect(again.stdout).toContain("Extended the deadline");
    expect(reverterPid()).toBe(pid);
    expect(deadlineOf()).toBeGreaterThan(firstDeadline);
    const without = await cliIn(lab().node, toFibre);
    expect(without.exitCode).toBe(1);
    expect(without.stderr).toContain("apply again with --confirm-within");
    // Past the first deadline the change stays, and its reverter waits on.
    await waitFor(async () => Date.now() > firstDeadline + 500, 25_000);
    expect(await activeGateway()).toBe("100.64.1.1");
    expect(alive(pid)).toBe(true);
    // At the new deadline it is reverted to the state before the first of the two applies.
    await waitFor(async () => (await activeGateway()) === "100.64.2.1" && !alive(pid), 45_000);
    expect(() => readFileSync(pendingFile())).toThrow(/ENOENT/);
  });

  it("an apply killed after its last op, while verifying, is closed by the next one, not undone", async () => {
    await cliIn(lab().node, ["revert"]);
    // Something to do: the per-uplink tables emptied behind backhaul's back.
    for (const table of ["101", "102"])
      await run(["ip", "route", "flush", "table", table], { netns: lab().node, allowFailure: true });
    const plan = await cliIn(lab().node, ["plan", DEMO_POLICY, "--assume-health", "up", "--json"]);
    const n = (JSON.parse(plan.stdout) as { ops: unknown[] }).ops.length;
    expect(n).toBeGreaterThan(0);
    const killed = await killedAt(lab().node, n);
    expect(killed).toBe("SIGKILL");
    const done = await full(lab().node);
    const r = await apply(["--auto-approve", "--json"]);
    expect(JSON.parse(r.stdout)).toMatchObject({
      recovered: { ok: true, executed: n, outcome: "completed" },
      outcome: "no-changes",
    });
    expect(await full(lab().node)).toEqual(done);
  });

  it("maps a failing line of a two-line op back to that op, and says it is half done", async () => {
    const rule = (priority: number, table: number): Rule => ({
      kind: "rule",
      family: 4,
      priority,
      action: "lookup",
      table,
      protocol: 201,
    });
    const route: Route = {
      kind: "route",
      family: 4,
      type: "unicast",
      dst: "203.0.113.0/24",
      table: 150,
      protocol: 201,
      metric: 0,
      scope: "link",
      dev: "eth0",
    };
    // The change renders "rule add" (new) then "rule del" (old, which does not exist): line 3 fails.
    const ops: Op[] = [
      { op: "add", after: route },
      { op: "change", before: rule(1050, 151), after: rule(1051, 150) },
    ];
    const r = await executeOps(ops, { netns: lab().node });
    expect(r).toMatchObject({ ok: false, executed: 1, processes: 1, failure: { index: 1, partial: true } });
    await lab().exec(lab().node, ["ip", "rule", "del", "priority", "1051"]);
    await lab().exec(lab().node, ["ip", "route", "del", "203.0.113.0/24", "table", "150"]);
  });
});

async function rulesAndRoutes(netns: string): Promise<{ rules: number; routes: string[] }> {
  const rules = await ipJson(netns, ["rule"]);
  const routes = await ipJson<{ dst: string; table?: string }[]>(netns, [
    "route",
    "show",
    "table",
    "all",
    "proto",
    "201",
  ]);
  return { rules: rules.length, routes: routes.map((r) => `${r.table} ${r.dst}`) };
}

async function waitFor(check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Run apply inside the namespace directly (no re-exec parent, so the pid is the apply itself), let it
 * pause before op k, and SIGKILL it there. Resolves with the signal it died of.
 */
function killedAt(
  netns: string,
  k: number,
  whilePaused: () => Promise<void> = () => Promise.resolve(),
  health: readonly string[] = ["--assume-health", "up"],
): Promise<NodeJS.Signals | null> {
  const child = spawn(
    "ip",
    ["netns", "exec", netns, process.execPath, BUILT_MAIN, "apply", DEMO_POLICY, ...health, "--auto-approve"],
    {
      stdio: ["ignore", "ignore", "pipe"],
      env: { ...process.env, BACKHAUL_NETNS: netns, BACKHAUL_FAULT: `pause-at:${k}:/nonexistent/never` },
    },
  );
  return new Promise((resolve, reject) => {
    let err = "";
    let paused = false;
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`apply did not pause: ${err}`));
    }, 20_000);
    child.stderr.on("data", (d: Buffer) => {
      err += d.toString();
      if (err.includes(`paused before op ${k}`) && !paused) {
        paused = true;
        whilePaused().then(
          () => child.kill("SIGKILL"),
          (e: unknown) => {
            child.kill("SIGKILL");
            reject(e as Error);
          },
        );
      }
    });
    child.once("exit", (_code, signal) => {
      clearTimeout(timer);
      resolve(signal);
    });
  });
}
