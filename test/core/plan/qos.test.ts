import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { checkPlan, type InvariantContext } from "../../../src/core/invariants.js";
import { canonicalState, keyOf } from "../../../src/kinds/registry.js";
import { emptyState, type KernelState, type Op, type Ownership } from "../../../src/kinds/types.js";
import { describeObject } from "../../../src/kinds/registry.js";
import { diff } from "../../../src/core/plan/diff.js";
import { orderOps } from "../../../src/core/plan/order.js";
import { QosError, qosState, qosTree } from "../../../src/core/plan/qos.js";
import { htbDefaultBurst, tcRate } from "../../../src/kinds/tc/htb.js";
import { tcValue } from "../../../src/kinds/tc/parse.js";
import type { QosInterface } from "../../../src/policy/types.js";
import { renderTcOps } from "../../../src/kinds/tc/render.js";
import { addr, link, route, rule, state } from "../model-kernel/fixtures.js";

const shaping: QosInterface = {
  interface: "eth0",
  rate: 20_000_000,
  defaultClass: "bulk",
  classes: {
    interactive: { rate: 6_000_000, ceil: 20_000_000, priority: 1, dscp: 34, ports: [8080, 80] },
    bulk: { rate: 12_000_000, ceil: 18_000_000, priority: 2, dscp: 10, ports: [] },
    control: { rate: 2_000_000, ceil: 20_000_000, priority: 0, dscp: 46, ports: [22] },
  },
};

describe("the QoS tree", () => {
  const t = qosTree(shaping);

  it("has an htb root whose default is the default class, fixed at 1:10", () => {
    expect(t.qdiscs).toEqual([
      {
        kind: "qdisc",
        dev: "eth0",
        handle: "1:",
        parent: "root",
        qdiscKind: "htb",
        options: { r2q: 10, default: "0x10", direct_qlen: 1000 },
      },
    ]);
  });

  it("gives the link class the interface rate and each class its rate, ceil and priority", () => {
    expect(t.classes.map(describeObject)).toEqual([
      "htb 1:1 dev eth0 parent root rate 20mbit ceil 20mbit",
      "htb 1:10 dev eth0 parent 1:1 rate 12mbit ceil 18mbit prio 2",
      "htb 1:20 dev eth0 parent 1:1 rate 2mbit ceil 20mbit prio 0",
      "htb 1:30 dev eth0 parent 1:1 rate 6mbit ceil 20mbit prio 1",
    ]);
    expect(t.classes[1]!.options).toEqual({ prio: 2, rate: 12e6, ceil: 18e6, burst: 1597, cburst: 1597 });
  });

  it("classifies by DSCP first, then by TCP and UDP destination port, for IPv4 and IPv6", () => {
    expect(t.filters.map((f) => `${f.handle} ${describeObject(f).split(" pref 10 ")[1]}`)).toEqual([
      "800::1 ip dscp 10 flowid 1:10",
      "800::2 ip6 dscp 10 flowid 1:10",
      "800::3 ip dscp 46 flowid 1:20",
      "800::4 ip6 dscp 46 flowid 1:20",
      "800::5 ip dscp 34 flowid 1:30",
      "800::6 ip6 dscp 34 flowid 1:30",
      "800::7 ip tcp dport 22 flowid 1:20",
      "800::8 ip6 tcp dport 22 flowid 1:20",
      "800::9 ip udp dport 22 flowid 1:20",
      "800::a ip6 udp dport 22 flowid 1:20",
      "800::b ip tcp dport 80 flowid 1:30",
      "800::c ip6 tcp dport 80 flowid 1:30",
      "800::d ip udp dport 80 flowid 1:30",
      "800::e ip6 udp dport 80 flowid 1:30",
      "800::f ip tcp dport 8080 flowid 1:30",
      "800::10 ip6 tcp dport 8080 flowid 1:30",
      "800::11 ip udp dport 8080 flowid 1:30",
      "800::12 ip6 udp dport 8080 flowid 1:30",
    ]);
    expect(t.filters.every((f) => f.parent === "1:" && f.protocol === "all" && f.pref === 10)).toBe(true);
  });

  it("holds the raw u32 keys tc stores (what the observer reads back)", () => {
    expect(t.filters[0]!.matches).toEqual([{ field: "u32 at 0", value: "0x40280000/0xf0fc0000" }]);
    expect(t.filters[6]!.matches).toEqual([
      { field: "u32 at 0", value: "0x45000000/0xff000000" },
      { field: "u32 at 8", value: "0x00060000/0x00ff0000" },
      { field: "u32 at 20", value: "0x00000016/0x0000ffff" },
    ]);
  });

  it("gives a reason for every object", () => {
    for (const o of [...t.qdiscs, ...t.classes, ...t.filters])
      expect(t.reasons.get(`${o.kind} ${keyOf(o)}`)).toMatch(/^qos on eth0: /);
  });

  it("refuses a default class that is not among the classes, and an interface shaped twice", () => {
    expect(() => qosTree({ ...shaping, defaultClass: "voice" })).toThrow(QosError);
    expect(() => qosState([shaping, shaping])).toThrow(/shaped twice/);
    expect(() => qosTree({ ...shaping, rate: 4 })).toThrow(/below 8 bit\/s/);
  });

  it("is deterministic whatever the order of the classes in the policy", () => {
    const names = Object.keys(shaping.classes);
    fc.assert(
      fc.property(fc.shuffledSubarray(names, { minLength: names.length }), (order) => {
        const classes = Object.fromEntries(order.map((n) => [n, shaping.classes[n]!]));
        expect(qosTree({ ...shaping, classes })).toEqual(t);
      }),
    );
  });

  it("a new default class changes classes and filters, never the root qdisc", () => {
    const other = qosTree({ ...shaping, defaultClass: "control" });
    expect(other.qdiscs).toEqual(t.qdiscs);
    expect(other.classes.find((c) => c.classid === "1:10")!.options["prio"]).toBe(0);
  });
});

describe("tc's printed values", () => {
  it("rates: whole bytes, shortened once at least 1000 of a unit", () => {
    expect(tcRate(12_345_000)).toBe(12_345_000);
    expect(tcRate(1_234_568_000)).toBe(1_234_000_000);
    expect(tcRate(1_234_567)).toBe(1_234_000);
    expect(tcRate(999_992_000)).toBe(999_992_000);
    expect(tcRate(100)).toBe(96);
  });

  it("tcRate is idempotent and what tc prints for it reads back as itself", () => {
    fc.assert(
      fc.property(fc.integer({ min: 8, max: 8 * 0xffffffff }), (bits) => {
        const r = tcRate(bits);
        expect(tcRate(r)).toBe(r);
        expect(r).toBeLessThanOrEqual(bits);
        // tc prints r in the largest unit that divides it exactly (that is what tcRate keeps).
        const [unit, f] = r % 1e9 === 0 ? ["Gbit", 1e9] : r % 1e6 === 0 ? ["Mbit", 1e6] : ["Kbit", 1e3];
        if (r % 1000 === 0) expect(tcValue("rate", `${r / f}${unit}`)).toBe(r);
      }),
    );
  });

  it("bursts as tc 6.1 printed them on this kernel", () => {
    // Observed: `class add ... rate R` without a burst, then `tc class show`.
    expect(htbDefaultBurst(1_000_000)).toBe(1600);
    expect(htbDefaultBurst(1_200_000)).toBe(1599);
    expect(htbDefaultBurst(12_345_000)).toBe(1597);
    expect(htbDefaultBurst(999_992_000)).toBe(1374);
    expect(htbDefaultBurst(1_000_000_000)).toBe(1375);
    expect(htbDefaultBurst(3_000_000_000)).toBe(1125);
    expect(htbDefaultBurst(20_000_000_000)).toBe(0);
  });
});

const ctx: InvariantContext = {
  ownership: {
    protocol: 200,
    tables: { min: 100, max: 199 },
    priorities: { min: 1000, max: 1999 },
    qosInterfaces: ["eth0"],
    nftTable: { family: "inet", name: "backhaul" },
    sysctls: [],
    uplinkInterfaces: [],
    addresses: [],
  },
  strategy: "failover",
  usableUplinks: ["eth0"],
  killSwitch: false,
  genericDestinations: ["203.0.113.177"],
  localSubnets: [],
};

describe("QoS plans on the model kernel", () => {
  const base = state({
    link: [link("eth0")],
    address: [addr("eth0", "100.64.1.2/24")],
    route: [route("0.0.0.0/0", { table: 100, gateway: "100.64.1.1", dev: "eth0" })],
    rule: [...state({}).rule, rule(1000, { table: 100 })],
    qdisc: [{ kind: "qdisc", dev: "eth0", handle: "0:", parent: "root", qdiscKind: "noqueue", options: {} }],
  });
  const own: Ownership = ctx.ownership;
  const tcOnly = (s: KernelState): KernelState => ({
    ...emptyState(),
    qdisc: s.qdisc,
    class: s.class,
    filter: s.filter,
  });
  const plan = (from: KernelState, to: KernelState) => orderOps(diff(tcOnly(from), tcOnly(to), own));
  const withTree = (s: KernelState, q: readonly QosInterface[]): KernelState => {
    const t = qosState(q);
    return canonicalState({ ...s, qdisc: t.qdiscs, class: t.classes, filter: t.filters });
  };

  const passes = (from: KernelState, ops: readonly Op[], to: KernelState): void => {
    const r = checkPlan(from, ops, ctx);
    expect(r.ok).toBe(true);
    if (r.ok) expect(canonicalState(tcOnly(r.end))).toEqual(canonicalState(tcOnly(to)));
  };

  it("building, changing and removing the tree passes checkPlan and ends in the target", () => {
    const built = withTree(base, [shaping]);
    const ops = plan(base, built);
    expect(ops[0]).toMatchObject({ op: "change", before: { qdiscKind: "noqueue" } });
    passes(base, ops, built);

    const changed = withTree(base, [{ ...shaping, rate: 30_000_000 }]);
    const change = plan(built, changed);
    expect(change.map((o) => o.op)).toEqual(["change"]);
    passes(built, change, changed);

    const removed = plan(built, { ...built, qdisc: [], class: [], filter: [] });
    expect(removed.every((o) => o.op === "delete")).toBe(true);
    passes(built, removed, { ...built, qdisc: [], class: [], filter: [] });
  });

  it("never deletes the kernel's default root qdisc", () => {
    expect(plan(base, { ...base, qdisc: [] })).toEqual([]);
  });

  it("deletes child classes before their parents", () => {
    const built = withTree(emptyState(), [shaping]);
    const ops = orderOps(diff(built, emptyState(), own));
    const classes = ops.flatMap((o) =>
      o.op === "delete" && o.before.kind === "class" ? [o.before.classid] : [],
    );
    expect(classes.indexOf("1:1")).toBe(classes.length - 1);
    expect(ops.map((o) => (o.op === "delete" ? o.before.kind : "")).slice(-1)).toEqual(["qdisc"]);
  });
});

/** Policy qos entries as the loader produces them: distinct DSCPs and ports across classes. */
const qosEntry: fc.Arbitrary<QosInterface> = fc
  .record({
    rate: fc.integer({ min: 8, max: 8 * 0xffffffff }),
    names: fc.uniqueArray(fc.stringMatching(/^[a-z][a-z0-9-]{0,6}$/), { minLength: 1, maxLength: 6 }),
    dscps: fc.uniqueArray(fc.integer({ min: 0, max: 63 }), { minLength: 6, maxLength: 6 }),
    ports: fc.uniqueArray(fc.integer({ min: 1, max: 65535 }), { maxLength: 12 }),
    rates: fc.array(
      fc.tuple(fc.integer({ min: 8, max: 1e10 }), fc.integer({ min: 0, max: 7 }), fc.boolean()),
      {
        minLength: 6,
        maxLength: 6,
      },
    ),
    def: fc.nat(),
  })
  .map(({ rate, names, dscps, ports, rates, def }) => ({
    interface: "eth0",
    rate,
    defaultClass: names[def % names.length]!,
    classes: Object.fromEntries(
      names.map((n, i) => {
        const [r, priority, marked] = rates[i]!;
        return [
          n,
          {
            rate: r,
            ceil: Math.max(r, rate),
            priority,
            ...(marked ? { dscp: dscps[i]! } : {}),
            ports: ports.filter((_, j) => j % names.length === i),
          },
        ];
      }),
    ),
  }));

describe("QoS properties", () => {
  const own: Ownership = ctx.ownership;
  const tc = (q: QosInterface | undefined): KernelState => {
    const t = qosState(q === undefined ? [] : [q]);
    return canonicalState({ ...emptyState(), qdisc: t.qdiscs, class: t.classes, filter: t.filters });
  };

  it("every tree renders, and any tree turns into any other on the model kernel", () => {
    fc.assert(
      fc.property(
        fc.option(qosEntry, { nil: undefined }),
        fc.option(qosEntry, { nil: undefined }),
        (a, b) => {
          const from = tc(a);
          const to = tc(b);
          const ops = orderOps(diff(from, to, own));
          // Every op renders to validated tc lines (RenderError otherwise).
          renderTcOps(ops);
          const r = checkPlan(from, ops, { ...ctx, usableUplinks: [] });
          expect(r.ok).toBe(true);
          if (r.ok) expect(canonicalState(r.end)).toEqual(to);
          expect(diff(to, to, own)).toEqual([]);
        },
      ),
      { numRuns: 150 },
    );
  });
});
