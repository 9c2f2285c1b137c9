// `backhaul validate`: every output format and exit code.
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { runValidate, type ValidateOptions } from "../../src/cli/commands/validate.js";
import { JSON_FORMAT_VERSION } from "../../src/cli/diagnostics.js";
import { loadPolicy, loadPolicyTexts } from "../../src/policy/load.js";
import { stringify } from "yaml";

const root = new URL("../../", import.meta.url).pathname;
const good = join(root, "examples/lab-demo.yaml");
let dir: string;
let bad: string;

const BAD = `uplinks:
  - name: fibre
    interfce: eth0
probes:
  targets: [tcp://198.51.100.10:443]
  interval: 5
`;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "backhaul-validate-"));
  bad = join(dir, "bad.yaml");
  await writeFile(bad, BAD);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const opts = (o: Partial<ValidateOptions>): ValidateOptions => ({
  format: "human",
  printEffective: false,
  color: false,
  ...o,
});

describe("validate, human output", () => {
  it("says valid and exits 0 for a valid policy", async () => {
    const out = await runValidate(good, opts({}));
    expect(out.exitCode).toBe(0);
    expect(out.stdout).toBe(`${good}: valid\n`);
  });

  it("gives file:line:col, the message, the pointer, the line and a caret; exits 1", async () => {
    const out = await runValidate(bad, opts({}));
    expect(out.exitCode).toBe(1);
    const lines = out.stdout.split("\n");
    expect(lines.slice(0, 4)).toEqual([
      `${bad}:3:5: error: unknown key "interfce"; did you mean "interface"? (at /uplinks/0/interfce)`,
      "3 |     interfce: eth0",
      "  |     ^^^^^^^^",
      "  known keys here: name, interface, match, kind, gateway, addressing, address, bias, use, weight, metered",
    ]);
    expect(out.stdout).toContain(
      `${bad}:6:13: error: expected a duration such as 250ms, 5s or 1h30m, got number 5 (at /probes/interval)`,
    );
    expect(out.stdout).toContain(`${bad}: invalid (2 error(s))`);
    expect(out.stdout).not.toContain("\u001b[");
  });

  it("colors only when asked (the verb asks on a TTY)", async () => {
    const out = await runValidate(bad, opts({ color: true }));
    expect(out.stdout).toContain("\u001b[1;31merror\u001b[0m");
  });

  it("--print-effective prints a complete policy that loads to the same effective policy", async () => {
    const out = await runValidate(good, opts({ printEffective: true }));
    const yamlText = out.stdout.slice(out.stdout.indexOf("# effective policy"));
    const doc = parse(yamlText) as Record<string, unknown>;
    expect(Object.keys(doc)).toEqual([
      "version",
      "uplinks",
      "probes",
      "selection",
      "routing",
      "hotspot",
      "qos",
      "daemon",
    ]);
    const again = loadPolicyTexts([{ file: "effective.yaml", text: stringify(doc) }]);
    const original = await loadPolicy(good);
    expect(again.ok && original.ok && again.policy).toEqual(original.ok && original.policy);
  });
});

describe("validate of a huge value", () => {
  it("quotes a window of the line around the error, in every format, never the whole value", async () => {
    const path = join(dir, "huge-ssid.yaml");
    await writeFile(
      path,
      `uplinks:\n  - name: fibre\n    interface: eth0\nprobes:\n  targets: [tcp://198.51.100.10:443]\nhotspot:\n  security: open\n  ssid: ${"A".repeat(900_000)}\n`,
    );
    const human = await runValidate(path, opts({}));
    expect(human.exitCode).toBe(1);
    expect(human.stdout.length).toBeLessThan(2_000);
    expect(human.stdout).toContain(`${path}:8:9: error: an SSID is 1-32 bytes; this one is 900000`);
    const line = human.stdout.split("\n").find((l) => l.startsWith("8 |"))!;
    expect(line).toBe(`8 |   ssid: ${"A".repeat(120 - "  ssid: ".length)}…`);
    const json = await runValidate(path, opts({ format: "json" }));
    expect(json.stdout.length).toBeLessThan(4_000);
    const d = (
      JSON.parse(json.stdout) as {
        diagnostics: {
          code: string;
          snippet: { code: string; highlight_start_offset: number; highlight_end_offset: number };
        }[];
      }
    ).diagnostics.find((x) => x.code !== "open-hotspot");
    expect(d?.snippet.code.length).toBe(121);
    expect(d?.snippet).toMatchObject({ highlight_start_offset: 8, highlight_end_offset: 120 });
  });
});

describe("validate --json", () => {
  it("is a versioned document with diagnostics in terraform's manner", async () => {
    const out = await runValidate(bad, opts({ format: "json" }));
    const doc = JSON.parse(out.stdout);
    expect(doc).toMatchObject({
      format_version: JSON_FORMAT_VERSION,
      valid: false,
      error_count: 2,
      warning_count: 0,
    });
    expect(doc.diagnostics[0]).toEqual({
      severity: "error",
      code: "unknown-key",
      summary: 'unknown key "interfce"; did you mean "interface"?',
      detail: expect.stringContaining("known keys here"),
      pointer: "/uplinks/0/interfce",
      range: {
        filename: bad,
        start: { line: 3, column: 5, byte: 29 },
        end: { line: 3, column: 13, byte: 37 },
      },
      snippet: {
        code: "    interfce: eth0",
        start_line: 3,
        highlight_start_offset: 4,
        highlight_end_offset: 12,
      },
    });
    expect(out.exitCode).toBe(1);
  });

  it("says valid, and with --print-effective carries the effective policy in machine units", async () => {
    const out = await runValidate(good, opts({ format: "json", printEffective: true }));
    const doc = JSON.parse(out.stdout);
    expect(doc).toMatchObject({ valid: true, error_count: 0, diagnostics: [] });
    expect(doc.effective.probes.interval).toBe(250);
    expect(out.exitCode).toBe(0);
  });
});

describe("validate --format github", () => {
  it("prints one workflow command per diagnostic, escaped", async () => {
    const out = await runValidate(bad, opts({ format: "github" }));
    const lines = out.stdout.trimEnd().split("\n");
    expect(lines).toHaveLength(2);
    expect(lines[0]).toBe(
      `::error file=${bad},line=3,col=5,endLine=3,endColumn=13,title=backhaul unknown-key::unknown key "interfce"; did you mean "interface"? (at /uplinks/0/interfce)%0Aknown keys here: name, interface, match, kind, gateway, addressing, address, bias, use, weight, metered`,
    );
    expect((await runValidate(good, opts({ format: "github" }))).stdout).toBe("");
  });
});

describe("validate --format sarif", () => {
  it("prints a SARIF 2.1.0 log whose results name catalogued rules and regions", async () => {
    const out = await runValidate(bad, opts({ format: "sarif" }));
    const log = JSON.parse(out.stdout);
    expect(log.version).toBe("2.1.0");
    const run = log.runs[0];
    expect(run.tool.driver.name).toBe("backhaul");
    expect(run.tool.driver.rules.map((r: { id: string }) => r.id)).toEqual(["unknown-key", "wrong-type"]);
    expect(run.results[0]).toMatchObject({
      ruleId: "unknown-key",
      level: "error",
      locations: [
        {
          physicalLocation: {
            artifactLocation: { uri: pathToFileURL(bad).href },
            region: { startLine: 3, startColumn: 5, endLine: 3, endColumn: 13 },
          },
        },
      ],
    });
    expect(out.exitCode).toBe(1);
  });
});

describe("the backhaul command", () => {
  const cli = (...args: string[]) =>
    promisify(execFile)(process.execPath, ["--import", "tsx", join(root, "src/cli/main.ts"), ...args], {
      cwd: root,
    }).then(
      (r) => ({ code: 0, stdout: r.stdout }),
      (e: { code: number; stdout: string }) => ({ code: e.code, stdout: e.stdout }),
    );

  it("exits 0 on a valid policy and 1 on an invalid one or a bad option", async () => {
    const [ok, invalid, badOption] = await Promise.all([
      cli("validate", good),
      cli("validate", "--json", bad),
      cli("validate", "--format", "xml", good),
    ]);
    expect(ok).toEqual({ code: 0, stdout: `${good}: valid\n` });
    expect(invalid.code).toBe(1);
    expect(JSON.parse(invalid.stdout).valid).toBe(false);
    expect(badOption.code).toBe(1);
  });

  it("plan and apply of a policy validate refuses run no tool: they fail on the policy, not on a missing ip", async () => {
    for (const args of [
      ["plan", bad],
      ["apply", bad, "--auto-approve"],
    ]) {
      const verb = args[0];
      const r = await promisify(execFile)(
        process.execPath,
        ["--import", "tsx", join(root, "src/cli/main.ts"), ...args],
        // No tool can be found on this PATH: any process started would fail with "not found".
        { cwd: root, env: { ...process.env, PATH: "/nonexistent" } },
      ).then(
        () => ({ code: 0, stderr: "" }),
        (e: { code: number; stderr: string }) => ({ code: e.code, stderr: e.stderr }),
      );
      expect(r.code, verb).toBe(1);
      expect(r.stderr, verb).toContain(`${bad}:3:5: error: unknown key "interfce"`);
      expect(r.stderr, verb).not.toMatch(/not found|ENOENT|is not installed/);
    }
  });
});

describe("validate output of a hostile policy", () => {
  it("shows control characters escaped, never raw, in human and GitHub output", async () => {
    const path = join(dir, "hostile.yaml");
    await writeFile(
      path,
      'uplinks:\n  - name: fibre\n    interface: eth0\n    "\\e[2J\\e[31mx": 1\nprobes:\n  targets: [tcp://198.51.100.10:443]\n',
    );
    for (const format of ["human", "github"] as const) {
      const out = await runValidate(path, opts({ format }));
      expect(out.exitCode).toBe(1);
      expect(out.stdout).not.toContain("\u001b");
      expect(out.stdout).toContain("\\u001b[2J");
    }
  });
});
