// `backhaul plan --against node.json --assume-health SPEC`: a plan made from a recorded node state
// (examples/gitops/node.json, recorded with `show --json --all` from a lab node the gitops policy had
// been applied to), without root and without a kernel.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { runPlan } from "../../src/cli/commands/plan.js";
import { run } from "../../src/effects/exec.js";
import { validatePlanDocument } from "../../src/effects/plan-file.js";
import { BUILT_MAIN } from "../helpers/cli.js";

const here = (p: string): string => fileURLToPath(new URL(`../../${p}`, import.meta.url));
const POLICY = here("examples/gitops/policy");
const NODE = here("examples/gitops/node.json");

const tmp = mkdtempSync(join(tmpdir(), "bh-against-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A copy of the recorded node state with a change made to it. */
function recordedCopy(name: string, change: (doc: Record<string, unknown>) => void): string {
  const doc = JSON.parse(readFileSync(NODE, "utf8")) as Record<string, unknown>;
  change(doc);
  const file = join(tmp, name);
  writeFileSync(file, `${JSON.stringify(doc, null, 2)}\n`);
  return file;
}

describe("plan --against a recorded node state", () => {
  it("runs as an unprivileged user with no iproute2 on PATH: the node already matches the policy", async () => {
    // nobody, and a PATH holding only node: reading the kernel (ip, tc, nft) would fail.
    const r = await run(
      [
        "setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        process.execPath,
        BUILT_MAIN,
        "plan",
        POLICY,
        "--against",
        NODE,
        "--assume-health",
        "up",
        "--detailed-exitcode",
      ],
      { allowFailure: true, timeoutMs: 30_000, env: { PATH: dirname(process.execPath) } },
    );
    expect(r.stderr).toBe("");
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain(`Uplinks (health assumed, against ${NODE}):`);
    expect(r.stdout).toContain("Selection: fibre chosen");
    expect(r.stdout).toContain("No changes. The kernel matches the policy.");
  });

  it("shows what assumed health would change on that node, exit 2 with --detailed-exitcode", async () => {
    const r = await runPlan(POLICY, {
      against: NODE,
      assumeHealth: "down:fibre,up",
      detailedExitcode: true,
    });
    expect(r.exitCode).toBe(2);
    expect(r.stdout).toContain("Selection: lte chosen");
    expect(r.stdout).toMatch(
      /~ default via 100\.64\.1\.1 dev eth0 table 100 .*→ default via 100\.64\.2\.1 dev wwan0 table 100 .*\[traffic-switch\]/,
    );
    expect(r.stdout).toContain("Plan: 0 to add, 1 to change, 0 to destroy.");
  });

  it("prints a plan document the schema accepts, with no drift (the last-applied record stays on the node)", async () => {
    const r = await runPlan(POLICY, { against: NODE, assumeHealth: "down:fibre,up", json: true });
    expect(r.exitCode).toBe(0);
    const checked = validatePlanDocument(JSON.parse(r.stdout));
    expect(checked.ok).toBe(true);
    const doc = checked.ok ? checked.doc : undefined;
    expect(doc?.changes.map((c) => [c.kind, c.actions])).toEqual([["route", ["update"]]]);
    expect(doc?.drift).toEqual([]);
  });

  it("plans the whole scheme for a node recorded before backhaul's first apply", async () => {
    const fresh = recordedCopy("fresh.json", (d) => {
      const s = d["state"] as Record<string, { protocol?: number; table?: number }[]>;
      s["rule"] = s["rule"]!.filter((x) => x.protocol !== 201);
      s["route"] = s["route"]!.filter((x) => x.protocol !== 201);
    });
    const r = await runPlan(POLICY, { against: fresh, assumeHealth: "up", detailedExitcode: true });
    expect(r.exitCode).toBe(2);
    expect(r.stdout).toContain("+ 1099: from all lookup 100");
    // Its four rules and three routes; the sysctls it set stay in the recording.
    expect(r.stdout).toContain("Plan: 7 to add, 0 to change, 0 to destroy.");
  });

  it("refuses to run without --assume-health, saying why", async () => {
    await expect(runPlan(POLICY, { against: NODE })).rejects.toThrow(
      `--against ${NODE}: a recorded node's uplinks cannot be probed from here; say what to assume with --assume-health`,
    );
  });

  it("refuses a node recorded without --all at file:line:col, and plans nothing", async () => {
    const partial = recordedCopy("partial.json", (d) => (d["all"] = false));
    const r = await runPlan(POLICY, { against: partial, assumeHealth: "up" });
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toBe("");
    const line =
      readFileSync(partial, "utf8")
        .split("\n")
        .findIndex((l) => l.includes('"all"')) + 1;
    expect(r.stderr).toContain(`${partial}:${line}:10: error: recorded node state: recorded without --all`);
    expect(r.stderr).toContain("backhaul show --json --all");
    expect(r.stderr).toContain(`${partial}: not a recorded node state, nothing planned`);
    const j = await runPlan(POLICY, { against: partial, assumeHealth: "up", json: true });
    expect(j.exitCode).toBe(1);
    expect(JSON.parse(j.stdout)).toMatchObject({
      valid: false,
      diagnostics: [{ code: "state-document", pointer: "/all", range: { filename: partial } }],
    });
  });

  it("refuses a file that is not there", async () => {
    const r = await runPlan(POLICY, { against: join(tmp, "missing.json"), assumeHealth: "up" });
    expect(r).toEqual({
      exitCode: 1,
      stdout: "",
      stderr: `backhaul plan: --against ${join(tmp, "missing.json")}: no such file (or a dangling link)\n`,
    });
  });

  it("notes a recording made with another state directory than the policy's", async () => {
    const other = recordedCopy("other-dir.json", (d) => (d["state_dir"] = "/srv/backhaul"));
    const r = await runPlan(POLICY, { against: other, assumeHealth: "up" });
    expect(r.exitCode).toBe(0);
    expect(r.stderr).toBe(
      `backhaul plan: note: ${other} was recorded with --state-dir /srv/backhaul, the policy's daemon.stateDir is /var/lib/backhaul: backhaul's services on the node were looked for under /srv/backhaul\n`,
    );
  });
});
