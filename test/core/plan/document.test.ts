import { describe, expect, it } from "vitest";
import { computeDesired, type DesiredInput } from "../../../src/core/plan/desired.js";
import { plan } from "../../../src/core/plan/order.js";
import { applyByKey } from "../../../src/core/model-kernel/by-key.js";
import { classify } from "../../../src/core/plan/disruption.js";
import {
  buildDocument,
  fingerprintObserved,
  opsFromDocument,
  type PlanDocument,
} from "../../../src/core/plan/document.js";
import { reasonsFrom } from "../../../src/core/plan/reasons.js";
import { renderHuman } from "../../../src/cli/plan-view.js";
import { validatePlanDocument } from "../../../src/effects/plan-file.js";
import { planPass } from "../../../src/core/reconcile.js";
import { lookupRoute } from "../../support/lookup.js";
import type { KernelState } from "../../../src/kinds/types.js";
import { down, node, opsOf, ownership, PARAMS, ROUTING, up, UPLINKS } from "../../support/plan-fixtures.js";

const own = ownership();
const input = (over: Partial<DesiredInput> = {}): DesiredInput => ({
  uplinks: UPLINKS,
  observed: node(),
  health: { eth0: up(), wlan0: up(), wwan0: up() },
  usage: {},
  params: PARAMS,
  families: [4],
  routing: ROUTING,
  ...over,
});

function documentFor(i: DesiredInput, lastApplied?: KernelState): PlanDocument {
  const d = computeDesired(i);
  const ops = opsOf(plan(i.observed, d.state, own));
  return buildDocument({
    observed: i.observed,
    ownership: own,
    ops,
    disruptions: classify(i.observed, ops),
    reasonFor: reasonsFrom(d),
    policyDigest: "sha256:policy",
    selection: d.selection,
    ...(lastApplied === undefined ? {} : { lastApplied }),
  });
}

const converged = (): KernelState => {
  const d = computeDesired(input());
  return applyByKey(node(), opsOf(plan(node(), d.state, own)));
};
const failover = (): DesiredInput => {
  const s = converged();
  return input({
    observed: { ...s, link: s.link.map((l) => (l.name === "eth0" ? { ...l, carrier: false } : l)) },
    health: { eth0: down(), wlan0: up(), wwan0: up() },
    previous: { active: [{ name: "eth0", weight: 1, score: 1070 }], usable: ["eth0", "wlan0", "wwan0"] },
  });
};

describe("plan document", () => {
  it("validates against schemas/plan.schema.json for a first plan, a failover and an empty plan", () => {
    for (const doc of [
      documentFor(input()),
      documentFor(failover()),
      documentFor(input({ observed: converged() })),
    ]) {
      const v = validatePlanDocument(JSON.parse(JSON.stringify(doc)));
      expect(v.ok ? [] : v.errors).toEqual([]);
    }
  });

  it("gives back the exact ordered ops from a saved document", () => {
    const f = failover();
    const ops = opsOf(plan(f.observed, computeDesired(f).state, own));
    const saved = JSON.parse(JSON.stringify(documentFor(f)));
    const v = validatePlanDocument(saved);
    expect(v.ok && opsFromDocument(v.doc)).toEqual(ops);
  });

  it("rejects a document with an unknown action or format version", () => {
    const doc = JSON.parse(JSON.stringify(documentFor(failover())));
    doc.changes[0].actions = ["replace"];
    doc.format_version = "2.0";
    const v = validatePlanDocument(doc);
    expect(v.ok).toBe(false);
    expect(v.ok ? [] : v.errors).toContain("/format_version: must be equal to one of the allowed values");
  });

  it("describes a failover as one update with its reason and disruption, and counts like terraform", () => {
    const doc = documentFor(failover());
    expect(doc.changes.map((c) => [c.actions, c.kind, c.disruption, c.reason])).toEqual([
      [
        ["update"],
        "route",
        "traffic-switch",
        "switching active uplink eth0 → wlan0: eth0 down since 12:03:41, carrier lost",
      ],
      [["delete"], "rule", "in-place", "uplink eth0 has no path: down since 12:03:41, carrier lost"],
      [["delete"], "route", "none", "uplink eth0 has no path: down since 12:03:41, carrier lost"],
    ]);
    expect(doc.summary).toEqual({ add: 0, change: 1, destroy: 2 });
    expect(doc.fingerprint.observed_owned).toBe(fingerprintObserved(failover().observed, own));
  });

  it("shows the deleted NAT flows of the uplink traffic left, last, with why, in a valid document", () => {
    const f = failover();
    const flows = {
      kind: "conntrack" as const,
      family: 4 as const,
      address: "198.51.100.2",
      source: "100.64.50.10",
      iface: "eth0",
      flows: 3,
    };
    const doc = documentFor({ ...f, observed: { ...f.observed, conntrack: [flows] } });
    const last = doc.changes[doc.changes.length - 1]!;
    expect([last.actions, last.kind, last.disruption]).toEqual([["delete"], "conntrack", "traffic-switch"]);
    expect(last.reason).toMatch(/^general traffic no longer leaves by eth0 \(.*\): its NAT'ed flows are cut/);
    const v = validatePlanDocument(JSON.parse(JSON.stringify(doc)));
    expect(v.ok ? [] : v.errors).toEqual([]);
    expect(renderHuman(doc)).toContain("- NAT flows from 100.64.50.10 out of eth0 as 198.51.100.2 (3 flows)");
    // Flows come and go with traffic: they are not part of what a saved plan is checked against.
    expect(doc.fingerprint.observed_owned).toBe(fingerprintObserved(f.observed, own));
  });

  it("pairs an add and a delete of one rule slot into a make-before-break replacement", () => {
    const s = converged();
    const i = input({
      observed: s,
      routing: { ...ROUTING, tables: { min: 100, max: 199 }, priorities: { min: 1000, max: 1099 } },
    });
    const moved = { ...i, uplinks: [UPLINKS[1]!, UPLINKS[0]!, UPLINKS[2]!] };
    const doc = documentFor(moved);
    const rule = doc.changes.find((c) => c.kind === "rule")!;
    expect(rule.actions).toEqual(["create", "delete"]);
    expect(rule.steps[0]!).toBeLessThan(rule.steps[1]!);
  });
});

describe("human plan output", () => {
  it("says there is nothing to do when the kernel matches", () => {
    expect(renderHuman(documentFor(input({ observed: converged() })))).toBe(
      "No changes. The kernel matches the policy.\n",
    );
  });

  it("groups by kind with the reason per group, a legend of the symbols used, and the summary", () => {
    expect(renderHuman(documentFor(failover()))).toBe(
      [
        "Symbols: ~ change in place, - delete",
        "",
        "route:",
        "  # switching active uplink eth0 → wlan0: eth0 down since 12:03:41, carrier lost",
        "    ~ default via 198.51.100.1 dev eth0 table 100 metric 0 proto 99 → default via 203.0.113.1 dev wlan0 table 100 metric 0 proto 99  [traffic-switch]",
        "  # uplink eth0 has no path: down since 12:03:41, carrier lost",
        "    - default via 198.51.100.1 dev eth0 table 101 metric 0 proto 99  [none]",
        "",
        "rule:",
        "  # uplink eth0 has no path: down since 12:03:41, carrier lost",
        "    - 1001: from 198.51.100.2/32 lookup 101  [in-place]",
        "",
        "Plan: 0 to add, 1 to change, 2 to destroy.",
        "",
      ].join("\n"),
    );
  });

  it("shows objects changed behind backhaul's back first, under their own heading", () => {
    const applied = converged();
    const tampered = {
      ...applied,
      route: applied.route.map((r) => (r.table === 102 ? { ...r, gateway: "203.0.113.99" } : r)),
    };
    const doc = documentFor(input({ observed: tampered }), applied);
    expect(doc.drift.map((d) => [d.kind, d.key])).toEqual([["route", "4 102 0.0.0.0/0 0"]]);
    const text = renderHuman(doc);
    expect(text.split("\n").slice(0, 4)).toEqual([
      "Symbols: ~ change in place",
      "",
      "Objects changed outside backhaul since the last apply:",
      "  ~ default via 203.0.113.1 dev wlan0 table 102 metric 0 proto 99 → default via 203.0.113.99 dev wlan0 table 102 metric 0 proto 99",
    ]);
    expect(text).toContain("Plan: 0 to add, 1 to change, 0 to destroy.");
  });
});

describe("a whole planning pass", () => {
  it("computes, plans, classifies against the SSH peer and documents in one call", () => {
    const f = failover();
    const pass = planPass({
      desired: f,
      ownership: own,
      policyDigest: "sha256:p",
      managementPeer: "100.64.9.9",
      routeFor: lookupRoute,
    });
    expect(pass.ok).toBe(true);
    if (!pass.ok) return;
    expect(pass.disruptions).toEqual(["management-path", "in-place", "none"]);
    expect(pass.document.changes[0]!.disruption).toBe("management-path");
    expect(validatePlanDocument(JSON.parse(JSON.stringify(pass.document))).ok).toBe(true);
  });

  it("shows adds with their reasons and a replacement with -/+", () => {
    const text = renderHuman(documentFor(input()));
    expect(text.startsWith("Symbols: + add\n")).toBe(true);
    expect(text).toContain(
      "  # uplink eth0: traffic from 198.51.100.2 leaves by eth0, whatever is active\n    + 1001: from 198.51.100.2/32 lookup 101  [in-place]",
    );
    expect(text).toContain("Plan: 12 to add, 0 to change, 0 to destroy.");
    // wlan0 moves to the front of the policy: it takes table 101 and priority 1001 from eth0.
    const reordered = input({ observed: converged(), uplinks: [UPLINKS[1]!, UPLINKS[0]!, UPLINKS[2]!] });
    const moved = renderHuman(documentFor(reordered));
    expect(moved).toContain(
      "    -/+ 1001: from 198.51.100.2/32 lookup 101 → 1001: from 203.0.113.2/32 lookup 101  [in-place]",
    );
    expect(moved).toMatch(/^Symbols: ~ change in place, -\/\+ replace\n/);
    expect(moved).toContain("Plan: 2 to add, 2 to change, 2 to destroy.");
  });
});
