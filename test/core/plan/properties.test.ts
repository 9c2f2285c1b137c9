// Properties of diff/order/plan over generated kernels with owned and foreign objects mixed.
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { canonicalState, isOwned, keyOf, ownedState, sameObject } from "../../../src/kinds/registry.js";
import {
  emptyState,
  KIND_NAMES,
  type KernelObject,
  type KernelState,
  type Op,
  type Ownership,
  type Qdisc,
  type Route,
  type Rule,
  type Sysctl,
  type TcClass,
  type TcFilter,
} from "../../../src/kinds/types.js";
import { plan } from "../../../src/core/plan/order.js";
import { applyByKey } from "../../../src/core/model-kernel/by-key.js";
import { driverOf } from "../../../src/kinds/registry.js";
import { classify } from "../../../src/core/plan/disruption.js";
import { buildDocument } from "../../../src/core/plan/document.js";
import { validatePlanDocument } from "../../../src/effects/plan-file.js";
import { canonicalJson } from "../../../src/util/canonical.js";
import { numRuns, opsOf } from "../../support/plan-fixtures.js";
import { lookupRoute } from "../../support/lookup.js";

const own: Ownership = {
  protocol: 99,
  tables: { min: 100, max: 104 },
  priorities: { min: 1000, max: 1004 },
  qosInterfaces: ["eth0"],
  nftTable: { family: "inet", name: "backhaul" },
  sysctls: ["net.ipv4.conf.eth0.rp_filter", "net.ipv4.conf.wwan0.rp_filter"],
  uplinkInterfaces: ["eth0", "wwan0"],
  addresses: [],
};

// Small domains so that keys collide often: same key with other content, foreign objects in our ranges.
const table = fc.constantFrom(100, 101, 102, 104, 254, 50);
const protocol = fc.constantFrom(99, 99, 4, 16);
const dev = fc.constantFrom("eth0", "wwan0");
const routeArb: fc.Arbitrary<Route> = fc.record({
  kind: fc.constant("route" as const),
  family: fc.constant(4 as const),
  table,
  type: fc.constantFrom("unicast" as const, "unicast" as const, "blackhole" as const),
  dst: fc.constantFrom("0.0.0.0/0", "198.51.100.0/24", "203.0.113.0/25"),
  metric: fc.constantFrom(0, 10),
  protocol,
  scope: fc.constant("global" as const),
  gateway: fc.constantFrom("198.51.100.1", "100.64.0.1"),
  dev,
});
const ruleArb: fc.Arbitrary<Rule> = fc
  .record({
    priority: fc.constantFrom(1000, 1001, 1002, 1004, 500),
    from: fc.constantFrom(undefined, "198.51.100.2/32", "100.64.0.2/32"),
    table,
    protocol,
  })
  .map(({ from, ...r }) => ({
    kind: "rule",
    family: 4,
    action: "lookup",
    ...r,
    ...(from === undefined ? {} : { from }),
  }));
const sysctlArb: fc.Arbitrary<Sysctl> = fc.record({
  kind: fc.constant("sysctl" as const),
  name: fc.constantFrom(
    "net.ipv4.conf.eth0.rp_filter",
    "net.ipv4.conf.wwan0.rp_filter",
    "net.ipv4.ip_forward",
  ),
  value: fc.constantFrom("0", "1", "2"),
});
const qdiscArb: fc.Arbitrary<Qdisc> = fc.record({
  kind: fc.constant("qdisc" as const),
  dev,
  handle: fc.constant("1:"),
  parent: fc.constant("root"),
  qdiscKind: fc.constantFrom("htb", "fq_codel"),
  options: fc.constant({}),
});
const classArb: fc.Arbitrary<TcClass> = fc.record({
  kind: fc.constant("class" as const),
  dev,
  classid: fc.constantFrom("1:10", "1:20"),
  parent: fc.constant("1:"),
  classKind: fc.constant("htb"),
  options: fc.record({ rate: fc.constantFrom("1mbit", "5mbit") }),
});
const filterArb: fc.Arbitrary<TcFilter> = fc.record({
  kind: fc.constant("filter" as const),
  dev,
  parent: fc.constant("1:"),
  protocol: fc.constant("ip"),
  pref: fc.constantFrom(1, 2),
  filterKind: fc.constant("u32"),
  flowid: fc.constantFrom("1:10", "1:20"),
  matches: fc.constant([{ field: "ip dport", value: "22" }]),
});

/** A valid state: unique keys per kind. */
function uniq(objects: readonly KernelObject[]): KernelState {
  const seen = new Set<string>();
  const out: Record<string, KernelObject[]> = Object.fromEntries(KIND_NAMES.map((k) => [k, []]));
  for (const o of objects) {
    const id = `${o.kind} ${keyOf(o)}`;
    if (seen.has(id)) continue;
    seen.add(id);
    out[o.kind]!.push(o);
  }
  return canonicalState(out as unknown as KernelState);
}

const objectsArb = fc.array(
  fc.oneof(routeArb, routeArb, ruleArb, ruleArb, sysctlArb, qdiscArb, classArb, filterArb),
  {
    maxLength: 30,
  },
);
const stateArb = objectsArb.map(uniq);
/** Desired: only what backhaul may own. */
const desiredArb = objectsArb.map((os) => ownedState(uniq(os), own));

const foreignOf = (s: KernelState): KernelState => {
  const out: Record<string, readonly KernelObject[]> = {};
  for (const k of KIND_NAMES) out[k] = s[k].filter((o) => !isOwned(o, own));
  return out as unknown as KernelState;
};

/** Drops desired objects whose key a foreign object holds in observed (plan refuses those: see below). */
function withoutConflicts(observed: KernelState, desired: KernelState): KernelState {
  const foreign = new Set(KIND_NAMES.flatMap((k) => foreignOf(observed)[k].map((o) => `${k} ${keyOf(o)}`)));
  const out: Record<string, readonly KernelObject[]> = {};
  for (const k of KIND_NAMES) out[k] = desired[k].filter((o) => !foreign.has(`${k} ${keyOf(o)}`));
  return out as unknown as KernelState;
}
const pairArb = fc.tuple(stateArb, desiredArb).map(([o, d]) => [o, withoutConflicts(o, d)] as const);

const objectOf = (op: Op): KernelObject => (op.op === "delete" ? op.before : op.after);

describe("plan properties", () => {
  it("plans nothing when the kernel already holds the desired state, whatever foreign objects surround it", () => {
    fc.assert(
      fc.property(pairArb, ([observed, desired]) => {
        const all = (st: KernelState): KernelObject[] =>
          KIND_NAMES.flatMap((k): KernelObject[] => [...st[k]]);
        const merged = uniq([...all(desired), ...all(foreignOf(observed))]);
        expect(opsOf(plan(merged, desired, own))).toEqual([]);
      }),
      { numRuns },
    );
  });

  it("converges: applying the plan gives desired for owned objects and leaves foreign ones untouched", () => {
    fc.assert(
      fc.property(pairArb, ([observed, desired]) => {
        const result = applyByKey(observed, opsOf(plan(observed, desired, own)));
        const owned = ownedState(result, own);
        // Kinds that cannot be deleted (sysctls) stay as they were when no longer desired.
        const expected = canonicalState({
          ...desired,
          sysctl: [
            ...desired.sysctl,
            ...ownedState(observed, own).sysctl.filter(
              (o) => !desired.sysctl.some((d) => keyOf(d) === keyOf(o)),
            ),
          ],
        });
        expect(canonicalJson(owned)).toBe(canonicalJson(expected));
        expect(canonicalJson(foreignOf(result))).toBe(canonicalJson(foreignOf(observed)));
        expect(opsOf(plan(result, desired, own))).toEqual([]);
      }),
      { numRuns },
    );
  });

  it("never touches a foreign object, and an op exists only for an owned object that differs", () => {
    fc.assert(
      fc.property(pairArb, ([observed, desired]) => {
        const ops = opsOf(plan(observed, desired, own));
        for (const op of ops) {
          if (op.op !== "add") expect(isOwned(op.before, own)).toBe(true);
          if (op.op !== "delete") expect(isOwned(op.after, own)).toBe(true);
          const o = objectOf(op);
          const before = ownedState(observed, own)[o.kind].find((x) => keyOf(x) === keyOf(o));
          const after = desired[o.kind].find((x) => keyOf(x) === keyOf(o));
          expect(before !== undefined && after !== undefined && sameObject(before, after)).toBe(false);
        }
        // At most two ops (a recreate) per differing key, one per key otherwise.
        const perKey = new Map<string, number>();
        for (const op of ops)
          perKey.set(
            `${objectOf(op).kind} ${keyOf(objectOf(op))}`,
            (perKey.get(`${objectOf(op).kind} ${keyOf(objectOf(op))}`) ?? 0) + 1,
          );
        for (const n of perKey.values()) expect(n).toBeLessThanOrEqual(2);
        // Nothing a kind's driver keeps (links, sysctls, a device's default qdiscs) is deleted.
        for (const op of ops)
          if (op.op === "delete") expect(driverOf(op.before).deletable(op.before)).toBe(true);
      }),
      { numRuns },
    );
  });

  it("orders every dependency: tables before rules, rules gone before their tables, make-before-break, tc parents first", () => {
    fc.assert(
      fc.property(pairArb, ([observed, desired]) => {
        const ops = opsOf(plan(observed, desired, own));
        const idx = (pred: (op: Op) => boolean): number[] => ops.flatMap((op, i) => (pred(op) ? [i] : []));
        ops.forEach((op, i) => {
          const o = objectOf(op);
          if (o.kind === "rule" && op.op !== "delete" && o.action === "lookup")
            for (const j of idx(
              (x) =>
                x.op !== "delete" && objectOf(x).kind === "route" && (objectOf(x) as Route).table === o.table,
            ))
              expect(j).toBeLessThan(i);
          if (o.kind === "route" && op.op === "delete")
            for (const j of idx(
              (x) =>
                x.op === "delete" && objectOf(x).kind === "rule" && (objectOf(x) as Rule).table === o.table,
            ))
              expect(j).toBeLessThan(i);
          if (op.op === "add") {
            // make-before-break: a delete of the same slot under another key comes after the add.
            const slot = (x: KernelObject): string =>
              x.kind === "rule"
                ? `${x.priority}`
                : x.kind === "route"
                  ? `${x.table} ${x.dst}`
                  : `${x.kind} ${keyOf(x)}`;
            for (const j of idx(
              (x) => x.op === "delete" && x.before.kind === o.kind && slot(x.before) === slot(o),
            ))
              if (keyOf(objectOf(ops[j]!)) !== keyOf(o)) expect(j).toBeGreaterThan(i);
              else expect(j).toBeLessThan(i);
          }
          const tcRank = { qdisc: 0, class: 1, filter: 2 } as Record<string, number>;
          const r = tcRank[o.kind];
          if (r !== undefined)
            for (const [j, x] of ops.entries()) {
              const rx = tcRank[objectOf(x).kind];
              if (rx === undefined || (objectOf(x) as Qdisc).dev !== (o as Qdisc).dev) continue;
              if (op.op !== "delete" && x.op !== "delete" && rx < r) expect(j).toBeLessThan(i);
              if (
                op.op === "delete" &&
                x.op === "delete" &&
                rx > r &&
                !ops.some((y) => y.op === "add" && keyOf(objectOf(y)) === keyOf(o) && y.after.kind === o.kind)
              )
                expect(j).toBeLessThan(i);
            }
        });
      }),
      { numRuns },
    );
  });

  it("is deterministic: the same states in any list order give the same plan", () => {
    fc.assert(
      fc.property(pairArb, fc.nat(), ([observed, desired], seed) => {
        const shuffle = (xs: readonly KernelObject[]): KernelObject[] => {
          const a = [...xs];
          let s = seed + 1;
          for (let i = a.length - 1; i > 0; i--) {
            s = (s * 1103515245 + 12345) % 2147483648;
            const j = s % (i + 1);
            [a[i], a[j]] = [a[j]!, a[i]!];
          }
          return a;
        };
        const shuffled = (st: KernelState): KernelState =>
          Object.fromEntries(KIND_NAMES.map((k) => [k, shuffle([...st[k]])])) as unknown as KernelState;
        const a = opsOf(plan(observed, desired, own));
        const b = opsOf(plan(shuffled(observed), shuffled(desired), own));
        expect(canonicalJson(b)).toBe(canonicalJson(a));
      }),
      { numRuns },
    );
  });

  it("classifies every op and produces a document the schema accepts", () => {
    fc.assert(
      fc.property(pairArb, ([observed, desired]) => {
        const ops = opsOf(plan(observed, desired, own));
        const disruptions = classify(observed, ops);
        const doc = buildDocument({
          observed,
          ownership: own,
          ops,
          disruptions,
          reasonFor: (op) => `${op.op} ${objectOf(op).kind}`,
          policyDigest: "test",
          lastApplied: emptyState(),
        });
        const v = validatePlanDocument(JSON.parse(JSON.stringify(doc)));
        expect(v.ok ? [] : v.errors).toEqual([]);
        expect(doc.changes.flatMap((c) => c.steps).sort((x, y) => x - y)).toEqual(ops.map((_, i) => i));
      }),
      { numRuns },
    );
  });

  it("refuses, never plans, a desired object whose place a foreign object holds", () => {
    fc.assert(
      fc.property(stateArb, desiredArb, (observed, desired) => {
        const r = plan(observed, desired, own);
        const clash = KIND_NAMES.some((k) =>
          desired[k].some((d) => foreignOf(observed)[k].some((f) => keyOf(f) === keyOf(d))),
        );
        expect(r.ok).toBe(!clash);
        if (!r.ok) expect(r.error.reason).toBe("conflict");
      }),
      { numRuns },
    );
  });

  it("flags exactly the ops that move the route to the SSH peer, as a lookup after every step says", () => {
    fc.assert(
      fc.property(
        pairArb,
        fc.constantFrom("198.51.100.7", "203.0.113.9", "100.64.0.1", "::ffff:198.51.100.7"),
        ([observed, desired], peer) => {
          const ops = opsOf(plan(observed, desired, own));
          const flagged = classify(observed, ops, { managementPeer: peer, routeFor: lookupRoute }).map(
            (d) => d === "management-path",
          );
          const v4 = peer.replace("::ffff:", "");
          let state = observed;
          const expected = ops.map((op) => {
            const before = canonicalJson(lookupRoute(state, v4));
            state = applyByKey(state, [op]);
            return before !== canonicalJson(lookupRoute(state, v4));
          });
          expect(flagged).toEqual(expected);
        },
      ),
      { numRuns },
    );
  });
});
