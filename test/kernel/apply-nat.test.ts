// apply installs the hotspot NAT: our nft table and IPv4 forwarding go in, the kernel then holds the
// table in exactly the planned canonical form (a second apply writes nothing), the hotspot client
// reaches the lab's internet through the node, and a failure at the nft op rolls everything back.
import { cliIn } from "../helpers/cli.js";
import { rmSync } from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import { canonicalState } from "../../src/kinds/registry.js";
import type { KernelState } from "../../src/kinds/types.js";
import { observe } from "../../src/effects/observe.js";
import { executeOps } from "../../src/effects/apply/execute.js";
import { natTable } from "../../src/core/plan/nat.js";
import { appliedPath } from "../../src/effects/state/applied.js";
import { run } from "../../src/effects/exec.js";
import { demoTopology, LAB_TOOLS, requireKernel, tcpConnect, useLab } from "../helpers/kernel.js";

const DEMO_POLICY = new URL("../../examples/lab-demo.yaml", import.meta.url).pathname;
const TARGET = { host: "198.51.100.10", port: 443, timeoutMs: 1500 };

const full = async (netns: string): Promise<KernelState> => canonicalState(await observe({ netns }));

describe.skipIf(!requireKernel([...LAB_TOOLS, "nft"]))("apply with the hotspot NAT on the demo lab", () => {
  const lab = useLab(demoTopology());
  afterAll(() => rmSync(appliedPath("/run/backhaul-lab", lab().node), { force: true }));
  const client = (): string => {
    const c = lab().client;
    if (c === undefined) throw new Error("the demo topology has a hotspot client");
    return c;
  };
  const apply = (env: Record<string, string> = {}) =>
    cliIn(lab().node, ["apply", DEMO_POLICY, "--assume-health", "up", "--auto-approve", "--json"], env);

  it("a failure at the nft op rolls back everything that went in before it", async () => {
    const before = await full(lab().node);
    const plan = await cliIn(lab().node, ["plan", DEMO_POLICY, "--assume-health", "up", "--json"]);
    const ops = (JSON.parse(plan.stdout) as { ops: { kind: string }[] }).ops;
    const at = ops.findIndex((o) => o.kind === "nft-table");
    expect(at).toBeGreaterThan(0);
    const r = await apply({ BACKHAUL_FAULT: `fail-at:${at}` });
    expect(r.exitCode).toBe(1);
    expect(JSON.parse(r.stdout)).toMatchObject({ outcome: "rolled-back", executed: at });
    expect(await full(lab().node)).toEqual(before);
    expect(before["nft-table"]).toEqual([]);
  });

  it("installs the table and ip_forward, exactly as planned; a second apply writes nothing", async () => {
    expect(await tcpConnect(client(), TARGET)).not.toBe("connected");
    const r = await apply();
    expect(r.exitCode, r.stderr).toBe(0);
    const s = await full(lab().node);
    // The observer's canonical body equals the planner's: the uplinks' interfaces, in policy order.
    expect(s["nft-table"]).toEqual([
      natTable({ table: "backhaul", hotspotInterface: "wlan0", address: "100.64.50.1/24" }, [
        "eth0",
        "wwan0",
        "usb0",
      ]),
    ]);
    expect(s.sysctl.find((x) => x.name === "net.ipv4.ip_forward")?.value).toBe("1");
    const listed = await run(["nft", "list", "table", "inet", "backhaul"], { netns: lab().node });
    expect(listed.stdout).toContain('ip saddr 100.64.50.0/24 oifname "eth0" masquerade');
    const again = await apply();
    expect(again.exitCode).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ outcome: "no-changes", writing_processes: 0 });
  });

  it("the hotspot client reaches an ISP's target through the node", async () => {
    expect(await tcpConnect(client(), TARGET)).toBe("connected");
  });

  it("an nft step is all or nothing: when its second op fails, its first did not happen either", async () => {
    const extra = natTable({ table: "bhlextra", hotspotInterface: "wlan0", address: "100.64.50.1/24" }, [
      "eth0",
    ]);
    const absent = { ...extra, name: "bhlabsent" };
    const r = await executeOps(
      [
        { op: "add", after: extra },
        { op: "delete", before: absent },
      ],
      { netns: lab().node },
    );
    expect(r).toMatchObject({ ok: false, executed: 0, processes: 1, failure: { index: 0 } });
    const listed = await run(["nft", "list", "tables"], { netns: lab().node });
    expect(listed.stdout).not.toContain("bhlextra");
  });

  it("a foreign firewall's forward chain: the client's connection fails exactly when drift calls it a conflict", async () => {
    // Each ruleset is judged twice, by the kernel (the client connects through the node, or not) and
    // by the model kernel's filter (drift names the table, or not): the two must agree.
    const rulesets: readonly [string, string, boolean][] = [
      ["policy drop", "policy drop;", false],
      ["a drop of the hotspot's interface", 'policy accept;\n  iifname "wlan0" drop', false],
      [
        "a reject of its subnet's web traffic",
        "policy accept;\n  ip saddr 100.64.50.0/24 tcp dport { 80, 443 } reject",
        false,
      ],
      ["a drop after a jump", 'policy accept;\n  iifname "wlan*" jump sub\n }\n chain sub {\n  drop', false],
      [
        "drop with the hotspot's new connections accepted",
        'policy drop;\n  ct state established,related accept\n  iifname "wlan0" oifname "eth0" accept',
        true,
      ],
      ["a drop of other traffic only", 'policy accept;\n  iifname "eth9" drop\n  udp dport 443 drop', true],
    ];
    const appliedTables = (await full(lab().node))["nft-table"];
    for (const [what, body, passes] of rulesets) {
      await run(["nft", "-f", "-"], {
        netns: lab().node,
        input: `table inet firewall {\n chain forward {\n  type filter hook forward priority 0; ${body}\n }\n}\n`,
      });
      try {
        const connected = (await tcpConnect(client(), TARGET)) === "connected";
        const r = await cliIn(lab().node, ["drift", DEMO_POLICY, "--assume-health", "up", "--json"]);
        const drift = (JSON.parse(r.stdout) as { drift: { class: string; kind: string; key: string }[] })
          .drift;
        expect([what, connected], r.stderr).toEqual([what, passes]);
        expect([what, drift.map((d) => [d.class, d.kind, d.key])]).toEqual([
          what,
          passes ? [] : [["conflict", "nft-table", "inet firewall"]],
        ]);
      } finally {
        await run(["nft", "delete", "table", "inet", "firewall"], { netns: lab().node });
      }
    }
    // Our own table was never touched by any of it.
    expect((await full(lab().node))["nft-table"]).toEqual(appliedTables);
  });
});
