// Every example policy applied with the real CLI in a lab made to match it (examples/lab/*-topology.yaml):
// the kernel ends in the desired state, `plan` finds nothing left to do, and a second apply says
// "No changes" without running a writing process. The examples probe public addresses, which the lab
// does not host (and lab namespaces have no way out): health is assumed, so no probe is sent.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parseDocument } from "yaml";
import { loadTopology } from "../../src/lab/topology.js";
import { canonicalState } from "../../src/kinds/registry.js";
import { observe } from "../../src/effects/observe.js";
import { run } from "../../src/effects/exec.js";
import { cliIn } from "../helpers/cli.js";
import { ipJson, LAB_TOOLS, requireKernel, useLab } from "../helpers/kernel.js";

const EXAMPLES = new URL("../../examples/", import.meta.url).pathname;

interface Expected {
  /** The first transaction's writing processes: ip (and tc with QoS), one per DHCP client started. */
  readonly processes: number;
  /** `priority from table` of every rule we own. */
  readonly rules: readonly string[];
  /** `table dst via gateway dev` of every route we own. */
  readonly routes: readonly string[];
  /** HTB classes per shaped interface. */
  readonly htbClasses: Readonly<Record<string, number>>;
  /** Interfaces whose rp_filter the policy sets to loose (2): every uplink interface it resolved. */
  readonly looseRpFilter: readonly string[];
}

const CASES: Readonly<Record<string, Expected>> = {
  "home-office": {
    processes: 2,
    rules: ["1000 all main", "1001 100.64.1.2 101", "1002 100.64.2.2 102", "1099 all 100"],
    routes: [
      "100 default via 100.64.1.1 dev eth0",
      "101 default via 100.64.1.1 dev eth0",
      "102 default via 100.64.2.1 dev wwan0",
    ],
    htbClasses: { eth0: 5, wwan0: 4 },
    looseRpFilter: ["eth0", "wwan0"],
  },
  // The phone (usb0, found by `match: {kind: usb-tether}`) gets its lease from our DHCP client, and
  // apply plans its table and source rule from it in the same run.
  rural: {
    processes: 2,
    rules: ["1000 all main", "1001 100.64.2.2 101", "1002 100.64.3.100 102", "1099 all 100"],
    routes: [
      "100 default via 100.64.2.1 dev wwan0",
      "101 default via 100.64.2.1 dev wwan0",
      "102 default via 100.64.3.1 dev usb0",
    ],
    htbClasses: {},
    looseRpFilter: ["wwan0", "usb0"],
  },
  // The phone (bnep0, found by `match: {kind: bt-pan, name: bnep*}`) likewise.
  vehicle: {
    processes: 3,
    rules: [
      "1000 all main",
      "1001 100.64.4.2 101",
      "1002 100.64.2.2 102",
      "1003 100.64.5.100 103",
      "1099 all 100",
    ],
    routes: [
      "100 default via 100.64.4.1 dev wlan0",
      "101 default via 100.64.4.1 dev wlan0",
      "102 default via 100.64.2.1 dev wwan0",
      "103 default via 100.64.5.1 dev bnep0",
    ],
    htbClasses: { wwan0: 4 },
    looseRpFilter: ["wlan0", "wwan0", "bnep0"],
  },
};

const canKernel = requireKernel(LAB_TOOLS);

for (const [name, want] of Object.entries(CASES)) {
  describe.skipIf(!canKernel)(`examples/${name}.yaml applied in its lab`, () => {
    const lab = useLab(loadTopology(join(EXAMPLES, "lab", `${name}-topology.yaml`)));
    // The example as written, with a state directory of its own so parallel tests keep apart.
    const dir = mkdtempSync(join(tmpdir(), `bhl-example-${name}-`));
    const policy = join(dir, `${name}.yaml`);
    const doc = parseDocument(readFileSync(join(EXAMPLES, `${name}.yaml`), "utf8"));
    doc.setIn(["daemon", "stateDir"], join(dir, "state"));
    doc.setIn(["daemon", "statusSocket"], join(dir, "status.sock"));
    writeFileSync(policy, doc.toString());
    afterAll(() => rmSync(dir, { recursive: true, force: true }));
    const apply = (extra: readonly string[]) =>
      cliIn(lab().node, ["apply", policy, "--assume-health", "up", "--auto-approve", ...extra]);

    it("ends with the kernel in the desired state, and plan finds nothing left to do", async () => {
      const r = await apply(["--json"]);
      expect(r.stderr).toBe("");
      expect(r.exitCode).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ outcome: "applied", writing_processes: want.processes });
      const node = lab().node;
      const rules = await ipJson<{ priority: number; src?: string; table?: string; protocol?: string }[]>(
        node,
        ["rule"],
      );
      expect(
        rules.filter((x) => x.protocol === "201").map((x) => `${x.priority} ${x.src ?? "all"} ${x.table}`),
      ).toEqual(want.rules);
      const routes = await ipJson<{ dst: string; gateway?: string; dev: string; table?: string }[]>(node, [
        "route",
        "show",
        "table",
        "all",
        "proto",
        "201",
      ]);
      expect(routes.map((x) => `${x.table} ${x.dst} via ${x.gateway} dev ${x.dev}`).sort()).toEqual(
        [...want.routes].sort(),
      );
      const qdiscs = await run(["tc", "-j", "qdisc", "show"], { netns: node });
      const roots = (JSON.parse(qdiscs.stdout) as { kind: string; dev: string; root?: boolean }[])
        .filter((q) => q.kind === "htb" && q.root === true)
        .map((q) => q.dev);
      expect(roots.sort()).toEqual(Object.keys(want.htbClasses).sort());
      for (const [dev, n] of Object.entries(want.htbClasses)) {
        // tc 6.1 prints classes as text even with -j.
        const classes = await run(["tc", "class", "show", "dev", dev], { netns: node });
        expect(
          classes.stdout.split("\n").filter((l) => l.startsWith("class htb ")),
          dev,
        ).toHaveLength(n);
      }
      // None of these examples NATs: no table of ours.
      const tables = await run(["nft", "-j", "list", "tables"], { netns: node });
      expect(tables.stdout).not.toContain('"name": "backhaul"');
      for (const dev of want.looseRpFilter) {
        const rp = await lab().exec(node, ["sysctl", "-n", `net.ipv4.conf.${dev}.rp_filter`]);
        expect(rp.stdout.trim(), dev).toBe("2");
      }
      const plan = await cliIn(node, ["plan", policy, "--assume-health", "up", "--detailed-exitcode"]);
      expect(plan.exitCode, plan.stdout + plan.stderr).toBe(0);
      expect(plan.stdout).toContain("No changes");
    });

    it('a second apply says "No changes" and runs no writing process', async () => {
      const before = canonicalState(await observe({ netns: lab().node }));
      // "no-changes" is what a person reads as "No changes" (the same path, printed for a terminal).
      const j = await apply(["--json"]);
      expect(j.exitCode).toBe(0);
      expect(JSON.parse(j.stdout)).toMatchObject({ outcome: "no-changes", writing_processes: 0 });
      expect(canonicalState(await observe({ netns: lab().node }))).toEqual(before);
    });
  });
}
