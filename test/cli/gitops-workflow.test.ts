// The CI files of examples/gitops (docs/gitops.md), run: every `run:` step of the GitHub Actions
// workflow and every `script:` of the GitLab CI jobs, in a copy of examples/gitops, with `backhaul`
// on PATH as a shim to this checkout's CLI. The install steps run on their own: they install the
// tarball `npm pack` makes of this checkout into a prefix of the test's own.
// Each step's exit code and output are checked: annotations, a SARIF log, the plan.
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { run, type RunResult } from "../../src/effects/exec.js";
import { BUILT_MAIN } from "../helpers/cli.js";

const here = (p: string): string => fileURLToPath(new URL(`../../${p}`, import.meta.url));
const EXAMPLE = here("examples/gitops");
/** Few histories: the workflow's own count is for the user's CI, this checks the steps work. */
const VERIFY_RUNS = "10";

const tmp = mkdtempSync(join(tmpdir(), "bh-gitops-"));
const bin = join(tmp, "bin");
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

beforeAll(() => {
  mkdirSync(bin);
  writeFileSync(
    join(bin, "backhaul"),
    `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(BUILT_MAIN)} "$@"\n`,
  );
  chmodSync(join(bin, "backhaul"), 0o755);
});

/** A fresh copy of examples/gitops to run steps in, changed by `edit`. */
function repository(name: string, edit: (dir: string) => void = () => {}): string {
  const dir = join(tmp, name);
  cpSync(EXAMPLE, dir, { recursive: true });
  edit(dir);
  return dir;
}

/** A pull request that makes LTE the preferred uplink: its bias above fibre's. */
function preferLte(dir: string): void {
  const file = join(dir, "policy", "10-uplinks.yaml");
  writeFileSync(
    file,
    readFileSync(file, "utf8").replace("    kind: lte\n", "    kind: lte\n    bias: 200\n"),
  );
}

/** A step's shell text as the CI runs it (bash, errexit and pipefail, as both runners do). */
function shell(script: string, cwd: string, env: Record<string, string>): Promise<RunResult> {
  return run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", `cd "$REPO" && ${script}`], {
    allowFailure: true,
    timeoutMs: 60_000,
    env: { ...env, REPO: cwd, PATH: `${bin}:${process.env["PATH"] ?? ""}` },
  });
}

interface GithubStep {
  readonly name?: string;
  readonly id?: string;
  readonly uses?: string;
  readonly run?: string;
  readonly if?: string;
  readonly with?: Record<string, unknown>;
}
interface GithubWorkflow {
  readonly env: Record<string, string>;
  readonly permissions: Record<string, string>;
  readonly jobs: Record<string, { readonly steps: readonly GithubStep[] }>;
}

const github = parse(readFileSync(join(EXAMPLE, "github-workflow.yml"), "utf8")) as GithubWorkflow;
const steps = Object.values(github.jobs).flatMap((j) => j.steps);
const step = (name: string): GithubStep => {
  const s = steps.find((x) => x.name === name);
  if (s === undefined) throw new Error(`no step "${name}" in github-workflow.yml`);
  return s;
};

/** Run one `run:` step of the workflow in `repo`, with the workflow's env and a step summary file. */
async function githubStep(name: string, repo: string): Promise<RunResult & { summary: string }> {
  const summary = join(repo, "step-summary.md");
  writeFileSync(summary, "");
  const r = await shell(step(name).run!, repo, {
    ...github.env,
    VERIFY_RUNS,
    GITHUB_STEP_SUMMARY: summary,
  });
  return { ...r, summary: readFileSync(summary, "utf8") };
}

function sarifOf(file: string): { version: string; runs: { results: unknown[]; tool: unknown }[] } {
  const log = JSON.parse(readFileSync(file, "utf8")) as {
    version: string;
    runs: { results: unknown[]; tool: unknown }[];
  };
  expect(log.version).toBe("2.1.0");
  expect(Array.isArray(log.runs[0]?.results)).toBe(true);
  return log;
}

describe("the GitHub Actions workflow of examples/gitops", () => {
  it("runs every step but the install, and uploads the SARIF file the verify step writes", () => {
    const runs = steps.filter((s) => s.run !== undefined && s.id !== "install").map((s) => s.name);
    expect(runs).toEqual(["Validate", "Verify", "Plan against the node", "Plan with fibre down"]);
    expect(step("Install backhaul").run).toContain('npm install --global "$BACKHAUL_PACKAGE"');
    const upload = step("Upload verify's findings");
    expect(upload.uses).toMatch(/^github\/codeql-action\/upload-sarif@v\d+$/);
    expect(upload.with?.["sarif_file"]).toBe("verify.sarif");
    expect(step("Verify").run).toContain("> verify.sarif");
    expect(github.permissions["security-events"]).toBe("write");
  });

  it("Validate: passes on the example policy; annotates a bad line", async () => {
    const good = await githubStep("Validate", repository("gh-validate"));
    expect(good).toMatchObject({ exitCode: 0, stdout: "" });
    const bad = repository("gh-validate-bad", (d) =>
      writeFileSync(join(d, "policy", "20-probes.yaml"), "probes:\n  interval: 5s\n  intervall: 2s\n"),
    );
    const r = await githubStep("Validate", bad);
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toMatch(
      /^::error file=policy\/20-probes\.yaml,line=3,col=3,endLine=3,endColumn=12,title=backhaul unknown-key::unknown key "intervall"; did you mean "interval"\?/m,
    );
  });

  it("Verify: writes a SARIF 2.1.0 log with its results", async () => {
    const repo = repository("gh-verify");
    const r = await githubStep("Verify", repo);
    expect(r.stderr).toBe("");
    expect(r.exitCode).toBe(0);
    expect(sarifOf(join(repo, "verify.sarif")).runs[0]!.results).toEqual([]);
  }, 60_000);

  it("Plan against the node: no change on the recorded node, the plan in the job summary", async () => {
    const r = await githubStep("Plan against the node", repository("gh-plan"));
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain("Uplinks (health assumed, against node.json):");
    expect(r.stdout).toContain("No changes. The kernel matches the policy.");
    expect(r.summary).toContain("### backhaul plan (every uplink up)");
    expect(r.summary).toContain("No changes. The kernel matches the policy.");
  });

  it("Plan against the node: a policy change is a plan (exit 2 of plan), and the step still passes", async () => {
    const repo = repository("gh-plan-change", preferLte);
    const r = await githubStep("Plan against the node", repo);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain("Plan: 0 to add, 1 to change, 0 to destroy.");
    expect(r.summary).toMatch(/→ default via 100\.64\.2\.1 dev wwan0 table 100 .*\[traffic-switch\]/);
  });

  it("Plan with fibre down: traffic would move to LTE", async () => {
    const r = await githubStep("Plan with fibre down", repository("gh-plan-down"));
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain("Selection: lte chosen");
    expect(r.stdout).toMatch(/→ default via 100\.64\.2\.1 dev wwan0 table 100 .*\[traffic-switch\]/);
  });
});

interface GitlabJob {
  readonly script: readonly string[];
  readonly allow_failure?: { readonly exit_codes: readonly number[] };
  readonly artifacts?: { readonly paths: readonly string[] };
}

describe("the GitLab CI jobs of examples/gitops", () => {
  const doc = parse(readFileSync(join(EXAMPLE, "gitlab-ci.yml"), "utf8")) as Record<string, unknown> & {
    variables: Record<string, string>;
    default: { before_script: readonly string[] };
  };
  const jobs = Object.fromEntries(
    Object.entries(doc).filter(([k]) => !["stages", "variables", "default"].includes(k)),
  ) as Record<string, GitlabJob>;
  const script = async (name: string, repo: string): Promise<RunResult> =>
    shell(jobs[name]!.script.join("\n"), repo, { ...doc.variables, VERIFY_RUNS });

  it("has the three jobs, each after the install in before_script (the part left out here)", () => {
    expect(Object.keys(jobs)).toEqual(["validate", "verify", "plan"]);
    expect(doc.default.before_script).toContain('npm install --global "$BACKHAUL_PACKAGE"');
  });

  it("validate, verify and plan pass on the example, leaving their artifacts", async () => {
    const repo = repository("gl");
    const validate = await script("validate", repo);
    expect(validate).toMatchObject({ exitCode: 0, stdout: "policy: valid\n" });

    const verify = await script("verify", repo);
    expect(verify.exitCode).toBe(0);
    expect(jobs["verify"]!.artifacts?.paths).toEqual(["verify.sarif"]);
    sarifOf(join(repo, "verify.sarif"));

    const plan = await script("plan", repo);
    expect(plan.exitCode).toBe(0);
    expect(jobs["plan"]!.allow_failure?.exit_codes).toEqual([2]);
    expect(readFileSync(join(repo, "plan.txt"), "utf8")).toContain(
      "No changes. The kernel matches the policy.",
    );
  }, 60_000);

  it("plan exits 2 on a change, which the job allows", async () => {
    const repo = repository("gl-change", preferLte);
    const plan = await script("plan", repo);
    expect(jobs["plan"]!.allow_failure?.exit_codes).toContain(plan.exitCode);
    expect(plan.exitCode).toBe(2);
    expect(plan.stdout).toContain("Selection: lte chosen");
  });
});

describe("the install steps of both CI files", () => {
  const prefix = join(tmp, "prefix");
  let tarball = "";
  beforeAll(async () => {
    // What a user hosts for BACKHAUL_PACKAGE: this checkout packed (prepack builds dist/).
    const packed = await run(["bash", "-c", 'cd "$ROOT" && npm pack --silent --pack-destination "$DEST"'], {
      env: { ROOT: here(""), DEST: tmp },
      timeoutMs: 150_000,
    });
    tarball = join(tmp, packed.stdout.trim().split("\n").at(-1)!);
  }, 180_000);

  /** The install as CI runs it: the package from BACKHAUL_PACKAGE, global installs under `prefix`. */
  const install = (script: string, pkg: string | undefined): Promise<RunResult> =>
    run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script], {
      allowFailure: true,
      timeoutMs: 120_000,
      env: {
        ...(pkg === undefined ? {} : { BACKHAUL_PACKAGE: pkg }),
        npm_config_prefix: prefix,
        // The dependencies are in npm's cache since `npm ci`.
        npm_config_prefer_offline: "true",
        npm_config_audit: "false",
        npm_config_fund: "false",
        PATH: `${join(prefix, "bin")}:${process.env["PATH"] ?? ""}`,
      },
    });
  const version = JSON.parse(readFileSync(here("package.json"), "utf8")).version as string;

  it("GitHub: installs the package BACKHAUL_PACKAGE names, and that backhaul runs", async () => {
    const r = await install(step("Install backhaul").run!, tarball);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout.trim().split("\n").at(-1)).toBe(version);
  });

  it("GitHub: without BACKHAUL_PACKAGE the step fails with an annotation that says what to set", async () => {
    const r = await install(step("Install backhaul").run!, undefined);
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toMatch(
      /^::error title=backhaul not installed::set the repository variable BACKHAUL_PACKAGE/,
    );
  });

  it("GitLab: before_script installs the package BACKHAUL_PACKAGE names, and refuses without it", async () => {
    const gitlab = parse(readFileSync(join(EXAMPLE, "gitlab-ci.yml"), "utf8")) as {
      default: { before_script: readonly string[] };
    };
    const script = gitlab.default.before_script.join("\n");
    const ok = await install(script, tarball);
    expect(ok.exitCode, ok.stderr).toBe(0);
    expect(ok.stdout.trim().split("\n").at(-1)).toBe(version);
    const refused = await install(script, undefined);
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr).toContain("set the CI/CD variable BACKHAUL_PACKAGE");
  });
});
