import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { cli } from "../helpers/cli.js";
import { showDocument } from "../../src/cli/show-view.js";
import { simulatedNode } from "../../src/core/verify/verify.js";
import { loadPolicy } from "../../src/policy/load.js";

const dir = mkdtempSync(join(tmpdir(), "bhl-verify-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A policy that strands traffic by its own choice: no uplink can score above its fail threshold. */
const STRANDS = `uplinks:
  - name: fibre
    interface: eth0
  - name: lte
    interface: wwan0
probes:
  targets: [tcp://192.0.2.10:443]
selection:
  thresholds: {fail: 1900, recover: 1950}
  noUsableUplink: withdraw
`;

describe("backhaul verify (the command)", () => {
  it("exits 0 when every history held, and says for how many and with which seed", async () => {
    const r = await cli(["verify", "examples/home-office.yaml", "--runs", "20", "--seed", "5"]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toBe(
      "examples/home-office.yaml: verified: 20 generated histories held every property (seed 5)\n",
    );
  });

  it("exits 2 with a shrunk timeline, the policy lines that decide it and how to replay it", async () => {
    const policy = join(dir, "strands.yaml");
    writeFileSync(policy, STRANDS);
    const r = await cli(["verify", policy, "--runs", "50", "--seed", "1"]);
    expect(r.exitCode, r.stderr).toBe(2);
    expect(r.stdout).toMatch(/counterexample after \d+ histories \(shrunk; seed 1\):/);
    expect(r.stdout).toMatch(/^ {2}t=0\.000s fibre \(eth0\) up, lte \(wwan0\) up$/m);
    expect(r.stdout).toMatch(/VIOLATED reaches-usable-uplink: lte has worked for .* but general traffic/);
    expect(r.stdout).toContain(`${policy}:9:15  /selection/thresholds`);
    expect(r.stdout).toContain(`${policy}:10:19  /selection/noUsableUplink`);
    expect(r.stdout).toContain(`replay: backhaul verify ${policy} --seed 1`);
    const json = await cli(["verify", policy, "--runs", "50", "--seed", "1", "--json"]);
    expect(json.exitCode).toBe(2);
    const doc = JSON.parse(json.stdout) as {
      ok: boolean;
      seed: number;
      counterexample: { violation: { property: string } };
      sources: { line: number }[];
    };
    expect(doc).toMatchObject({
      ok: false,
      seed: 1,
      counterexample: { violation: { property: "reaches-usable-uplink" } },
    });
    expect(doc.sources.map((s) => s.line)).toEqual(expect.arrayContaining([9, 10]));
    const gh = await cli(["verify", policy, "--runs", "50", "--seed", "1", "--format", "github"]);
    const sarif = await cli(["verify", policy, "--runs", "50", "--seed", "1", "--format", "sarif"]);
    expect(sarif.exitCode).toBe(2);
    const log = JSON.parse(sarif.stdout) as {
      version: string;
      runs: {
        results: { ruleId: string; locations: { physicalLocation: { region: { startLine: number } } }[] }[];
      }[];
    };
    expect(log.version).toBe("2.1.0");
    const results = log.runs[0]!.results;
    expect(new Set(results.map((x) => x.ruleId))).toEqual(new Set(["verify-reaches-usable-uplink"]));
    expect(results.map((x) => x.locations[0]!.physicalLocation.region.startLine)).toEqual(
      expect.arrayContaining([9, 10]),
    );
    expect(gh.stdout).toMatch(
      new RegExp(`^::error file=${policy},line=9,col=15,title=backhaul verify reaches-usable-uplink::`, "m"),
    );
  });

  it("starts from a recorded node with --against, and refuses a file that is not one (exit 1)", async () => {
    const l = await loadPolicy("examples/home-office.yaml");
    if (!l.ok) throw new Error("home-office.yaml does not load");
    const shown = join(dir, "node.json");
    writeFileSync(
      shown,
      `${JSON.stringify(showDocument(simulatedNode(l.policy).kernel, { all: true }), null, 2)}\n`,
    );
    const r = await cli([
      "verify",
      "examples/home-office.yaml",
      "--against",
      shown,
      "--runs",
      "10",
      "--seed",
      "4",
    ]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toBe(
      `examples/home-office.yaml: verified: 10 generated histories held every property from ${shown} (seed 4)\n`,
    );
    const bad = join(dir, "bad-node.json");
    writeFileSync(bad, '{\n  "format_version": 1,\n  "state": 3\n}\n');
    const refused = await cli(["verify", "examples/home-office.yaml", "--against", bad]);
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr).toMatch(/bad-node\.json:\d+:\d+/);
    expect(refused.stderr).toContain(`${bad}: not a recorded node state, nothing verified`);
    const missing = await cli(["verify", "examples/home-office.yaml", "--against", join(dir, "none.json")]);
    expect(missing.exitCode).toBe(1);
    expect(missing.stderr).toMatch(/^backhaul verify: --against .*none\.json/);
  });

  it("exits 1 on a policy that does not load and on a bad option, saying why", async () => {
    const bad = join(dir, "bad.yaml");
    writeFileSync(bad, "uplinks: 3\n");
    const r = await cli(["verify", bad]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/bad\.yaml:1:10/);
    const runs = await cli(["verify", "examples/home-office.yaml", "--runs", "many"]);
    expect(runs.exitCode).toBe(1);
    expect(runs.stderr).toMatch(/--runs "many": expected a whole number/);
  });
});
