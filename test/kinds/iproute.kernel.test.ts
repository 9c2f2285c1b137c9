// Rendered ops run by the real iproute2 in a lab namespace: deletes find exactly what adds made,
// replace changes a route in place.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fc } from "../support/fc.js";
import { defaultRules, inverseOp } from "../../src/core/model-kernel/index.js";
import { keyOf } from "../../src/kinds/registry.js";
import type { Op } from "../../src/kinds/types.js";
import { addNamespace, deleteNamespace, newLabId } from "../../src/lab/netns.js";
import { batchArgv, batchInput, renderOps } from "../../src/kinds/ip/batch.js";
import { run } from "../../src/effects/exec.js";
import { kernelStateArb } from "../arbitraries/kernel-state.js";
import { kernelAvailable, kernelUnavailableReason, mustRunKernelTests } from "../support/kernel-lab.js";
import { loadState, resetNamespace } from "../core/model-kernel/oracle-lab.js";

async function runOps(ns: string, ops: readonly Op[]): Promise<void> {
  for (const b of renderOps(ops)) await run(batchArgv(b), { netns: ns, input: batchInput(b) });
}

async function ruleCount(ns: string): Promise<number> {
  let n = 0;
  for (const f of [4, 6])
    n += (JSON.parse((await run(["ip", `-${f}`, "-j", "rule", "show"], { netns: ns })).stdout) as unknown[])
      .length;
  return n;
}

describe.runIf(kernelAvailable || mustRunKernelTests)("iproute2 batches in a namespace", () => {
  const ns = newLabId();
  beforeAll(async () => {
    if (!kernelAvailable) throw new Error(`kernel tests cannot run: ${kernelUnavailableReason()}`);
    await addNamespace(ns);
  });
  afterAll(async () => {
    if (kernelAvailable) await deleteNamespace(ns);
  });

  it("deleting every rendered rule and route leaves exactly the default rules and no routes", async () => {
    const states = fc.sample(kernelStateArb(), { numRuns: 25, seed: 4242 });
    const defaults = new Set(defaultRules().map(keyOf));
    let prev;
    for (const s of states) {
      await resetNamespace(ns, prev);
      prev = s;
      await loadState(ns, s);
      const up = new Set(s.link.filter((l) => l.adminUp).map((l) => l.name));
      // The kernel flushed the routes whose every nexthop went down with its device; the rest stay.
      const routes = s.route.filter((r) =>
        (r.nexthops?.map((h) => h.dev) ?? [r.dev]).some((d) => d === undefined || up.has(d)),
      );
      const ops: Op[] = [
        ...s.rule.filter((r) => !defaults.has(keyOf(r))).map((r) => inverseOp({ op: "add", after: r })),
        ...routes.map((r) => inverseOp({ op: "add", after: r })),
      ];
      await runOps(ns, ops);
      expect(await ruleCount(ns)).toBe(s.rule.filter((r) => defaults.has(keyOf(r))).length);
      for (const f of [4, 6]) {
        const all = JSON.parse(
          (await run(["ip", `-${f}`, "-j", "route", "show", "table", "all"], { netns: ns })).stdout,
        ) as {
          protocol?: string;
          table?: string;
        }[];
        expect(all.filter((r) => r.protocol !== "kernel" && r.table !== "local")).toEqual([]);
      }
    }
    await resetNamespace(ns, prev);
  });

  it("a route change of the same identity is replaced in place", async () => {
    const { link, addr, route, state } = await import("../core/model-kernel/fixtures.js");
    const s = state({
      link: [link("u0"), link("u1")],
      address: [addr("u0", "100.64.1.2/24"), addr("u1", "100.64.2.2/24")],
      route: [route("0.0.0.0/0", { table: 150, gateway: "100.64.1.1", dev: "u0" })],
    });
    await resetNamespace(ns, s);
    await loadState(ns, s);
    const before = s.route[0]!;
    const after = { ...before, gateway: "100.64.2.1", dev: "u1" };
    await runOps(ns, [{ op: "change", before, after }]);
    const got = JSON.parse(
      (await run(["ip", "-j", "route", "show", "table", "150"], { netns: ns })).stdout,
    ) as object[];
    expect(got).toMatchObject([{ dst: "default", gateway: "100.64.2.1", dev: "u1", protocol: "200" }]);
    await resetNamespace(ns, s);
  });
});
