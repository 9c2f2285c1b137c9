// The executor's pure parts: ops → batches with a line→op map, sysctl paths, the fault hook's spec,
// what makes a saved plan stale, and what a rollback can restore.
import { describe, expect, it } from "vitest";
import { executeOps, steps } from "../../src/effects/apply/execute.js";
import { failingLine } from "../../src/effects/batch-channel.js";
import { sysctlPath } from "../../src/kinds/sysctl/names.js";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { restorable, transact } from "../../src/effects/apply/transaction.js";
import { faultFromEnv, staleness } from "../../src/cli/commands/apply.js";
import { ownedState } from "../../src/kinds/registry.js";
import {
  emptyState,
  type Op,
  type Ownership,
  type Route,
  type Rule,
  type Sysctl,
} from "../../src/kinds/types.js";
import { renderOps } from "../../src/kinds/ip/batch.js";
import { processCounter } from "../../src/effects/exec.js";
import { kernelStateArb } from "../arbitraries/kernel-state.js";
import { fc } from "../support/fc.js";

const own: Ownership = {
  protocol: 201,
  tables: { min: 100, max: 199 },
  priorities: { min: 1000, max: 1099 },
  sysctls: ["net.ipv4.conf.eth0.rp_filter", "net.ipv4.conf.eth0/100.rp_filter"],
  uplinkInterfaces: ["eth0"],
  addresses: [],
  qosInterfaces: [],
  nftTable: { family: "inet", name: "backhaul" },
};
const rule = (priority: number, table: number): Rule => ({
  kind: "rule",
  family: 4,
  priority,
  action: "lookup",
  table,
  protocol: 201,
});
const route = (table: number, dev: string): Route => ({
  kind: "route",
  family: 4,
  type: "unicast",
  dst: "0.0.0.0/0",
  table,
  protocol: 201,
  metric: 0,
  scope: "global",
  gateway: "100.64.1.1",
  dev,
});
const sysctl = (name: string, value: string): Sysctl => ({ kind: "sysctl", name, value });

describe("steps: ops to batches", () => {
  it("maps both lines of a rule change to the one op, and keeps sysctls out of ip batches", () => {
    const ops: Op[] = [
      {
        op: "change",
        before: sysctl("net.ipv4.conf.eth0.rp_filter", "0"),
        after: sysctl("net.ipv4.conf.eth0.rp_filter", "2"),
      },
      { op: "add", after: route(100, "eth0") },
      { op: "change", before: rule(1001, 101), after: { ...rule(1001, 101), from: "100.64.1.2/32" } },
      { op: "add", after: rule(1099, 100) },
    ];
    const s = steps(ops);
    expect(s.map((x) => x.tool)).toEqual(["sysctl", "ip"]);
    const ip = s[1]!;
    expect(ip.tool === "ip" && ip.lineOp).toEqual([1, 2, 2, 3]);
    expect(ip.tool === "ip" && ip.family).toBe(4);
  });

  it("starts a new batch at the fault hook's op", () => {
    const ops: Op[] = [100, 101, 102].map((t) => ({ op: "add", after: route(t, "eth0") }));
    expect(steps(ops, 1).map((x) => x.start)).toEqual([0, 1]);
  });

  it("refuses to delete a sysctl before anything runs", () => {
    expect(() => steps([{ op: "delete", before: sysctl("net.ipv4.ip_forward", "1") }])).toThrow(
      /cannot be deleted/,
    );
  });

  it("property: the batches hold exactly the renderer's lines, in order, each mapped to the op that rendered it", () => {
    fc.assert(
      fc.property(
        kernelStateArb({ maxRoutes: 6, maxRules: 3 }).chain((st) =>
          fc.shuffledSubarray([
            ...st.route.map((r): Op => ({ op: "add", after: r })),
            ...st.rule.map((r): Op => ({ op: "delete", before: r })),
            ...st.sysctl.map((x): Op => ({ op: "change", before: { ...x, value: "0" }, after: x })),
          ]),
        ),
        (ops) => {
          const s = steps(ops);
          const ipSteps = s.filter((x) => x.tool === "ip");
          const lineOp = ipSteps.flatMap((x) => (x.tool === "ip" ? x.lineOp : []));
          const lines = ipSteps.flatMap((x) => (x.tool === "ip" ? x.lines : []));
          const expected = ops.flatMap((op, i) =>
            (op.op === "delete" ? op.before : op.after).kind === "sysctl"
              ? []
              : renderOps([op]).flatMap((b) => b.lines.map((l) => [l, i] as const)),
          );
          expect(lines).toEqual(expected.map(([l]) => l));
          expect(lineOp).toEqual(expected.map(([, i]) => i));
          // Batches run in op order: a step never starts before the previous one's last op.
          const starts = s.map((x) => x.start);
          expect([...starts].sort((a, b) => a - b)).toEqual(starts);
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe("execution edges", () => {
  it("an empty plan starts no process", async () => {
    const before = processCounter.started;
    expect(await executeOps([])).toEqual({ ok: true, executed: 0, processes: 0 });
    expect(processCounter.started).toBe(before);
  });

  it("reads iproute2's failing line", () => {
    expect(failingLine("RTNETLINK answers: No such device\nCommand failed -:3\n")).toBe(3);
    expect(failingLine("Error: something")).toBeUndefined();
  });

  it("writes sysctl(8) names to /proc/sys, a '/' standing for a dot in an interface name", () => {
    expect(sysctlPath("net.ipv4.conf.eth0.rp_filter")).toBe("/proc/sys/net/ipv4/conf/eth0/rp_filter");
    expect(sysctlPath("net.ipv4.conf.eth0/100.rp_filter")).toBe("/proc/sys/net/ipv4/conf/eth0.100/rp_filter");
    expect(() => sysctlPath("net..ipv4")).toThrow(/invalid sysctl name/);
  });
});

describe("fault hook spec", () => {
  it("parses fail-at and pause-at, and refuses anything else", async () => {
    expect(faultFromEnv(undefined, () => {})).toBeUndefined();
    const f = faultFromEnv("fail-at:4", () => {});
    expect(f?.at).toBe(4);
    expect(await f?.run()).toBe("fail");
    expect(faultFromEnv("pause-at:2:/tmp/x", () => {})?.at).toBe(2);
    expect(() => faultFromEnv("pause-at:2", () => {})).toThrow(/expected/);
    expect(() => faultFromEnv("explode", () => {})).toThrow(/expected/);
  });
});

describe("saved plan staleness", () => {
  it("names objects that appeared, vanished or changed since the plan was made", () => {
    const observed = {
      ...emptyState(),
      rule: [rule(1001, 101), rule(1002, 150)],
      sysctl: [sysctl("net.ipv4.conf.eth0.rp_filter", "1")],
    };
    const ops: Op[] = [
      { op: "add", after: rule(1001, 101) },
      { op: "delete", before: route(101, "eth0") },
      { op: "change", before: rule(1002, 102), after: rule(1002, 103) },
      {
        op: "change",
        before: sysctl("net.ipv4.conf.eth0.rp_filter", "0"),
        after: sysctl("net.ipv4.conf.eth0.rp_filter", "2"),
      },
      { op: "add", after: rule(1003, 103) },
    ];
    expect(staleness(ops, observed, own)).toEqual([
      "rule 1001: from all lookup 101 already exists",
      "route default via 100.64.1.1 dev eth0 table 101 metric 0 proto 201 is gone",
      "rule 1002: from all lookup 102 is gone",
      "sysctl net.ipv4.conf.eth0.rp_filter = 1 changed",
    ]);
  });
});

describe("rollback target", () => {
  it("leaves out routes and per-interface sysctls of a device that vanished, and foreign objects", () => {
    const pre = {
      ...emptyState(),
      route: [route(101, "eth0"), route(102, "wwan0"), { ...route(102, "wwan0"), protocol: 4 }],
      sysctl: [sysctl("net.ipv4.conf.eth0.rp_filter", "0"), sysctl("net.ipv4.conf.eth0/100.rp_filter", "0")],
    };
    const link = {
      kind: "link" as const,
      index: 2,
      linkClass: "ethernet" as const,
      adminUp: true,
      carrier: true,
      operState: "up",
      mtu: 1500,
    };
    const now = { ...emptyState(), link: [{ ...link, name: "eth0" }] };
    const r = restorable(pre, now, own);
    expect(r.route).toEqual([route(101, "eth0")]);
    expect(r.sysctl).toEqual([sysctl("net.ipv4.conf.eth0.rp_filter", "0")]);
    expect(
      restorable(
        pre,
        { ...now, link: [...now.link, { ...link, name: "wwan0" }, { ...link, name: "eth0.100" }] },
        own,
      ),
    ).toEqual(ownedState(pre, own));
  });
});

describe("restoring a service after a crash", () => {
  it("aims for a gone access point as its start makes it: credentials current, never the stale ones", () => {
    const ap = {
      kind: "hostapd" as const,
      iface: "wlan0",
      argv: ["hostapd", "/var/lib/backhaul/hostapd/host/wlan0.conf"],
      config: ["interface=wlan0", "wpa=2"],
      passphraseFile: "/var/lib/backhaul/hostapd/host/wlan0.psk",
      credentials: "stale" as const,
    };
    const pre = { ...emptyState(), hostapd: [ap] };
    expect(restorable(pre, emptyState(), own).hostapd).toEqual([{ ...ap, credentials: "current" }]);
    // Still running: its file can be put back as it was (the reload's rollback), stale and all.
    expect(restorable(pre, { ...emptyState(), hostapd: [{ ...ap, pid: 7 }] }, own).hostapd).toEqual([ap]);
  });
});

describe("restoring tracked flows", () => {
  it("cannot bring deleted flows back: the rollback target holds the flows the kernel holds now", () => {
    const nat = (source: string) => ({
      kind: "conntrack" as const,
      family: 4 as const,
      address: "100.64.1.2",
      source,
      iface: "eth0",
      flows: 1,
    });
    const pre = { ...emptyState(), conntrack: [nat("100.64.50.10")] };
    const now = { ...emptyState(), conntrack: [nat("100.64.50.11")] };
    expect(restorable(pre, now, own).conntrack).toEqual([nat("100.64.50.11")]);
  });
});

describe("transaction", () => {
  it("refuses a plan with an op it cannot run before it writes a journal or anything else", async () => {
    const dir = mkdtempSync(join(tmpdir(), "bhl-tx-"));
    try {
      const journal = join(dir, "journal.json");
      const link = {
        kind: "link" as const,
        name: "u0",
        index: 2,
        linkClass: "ethernet" as const,
        adminUp: true,
        carrier: true,
        operState: "up",
        mtu: 1500,
      };
      const before = processCounter.started;
      await expect(
        transact(emptyState(), [{ op: "add", after: link }], "digest", {
          ownership: own,
          stateDir: dir,
          journalPath: journal,
          netnsName: undefined,
        }),
      ).rejects.toThrow(/links are not created or deleted/);
      expect(existsSync(journal)).toBe(false);
      expect(processCounter.started).toBe(before);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
