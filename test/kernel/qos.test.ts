// The QoS tree against the real kernel: the desired qdisc/class/filter objects, rendered to tc and
// applied in a namespace, read back by the observer exactly as computed; a class change converges
// in place; removing the shaping leaves the kernel's default qdisc and no tree.
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addNamespace, deleteNamespace, newLabId } from "../../src/lab/netns.js";
import { observe } from "../../src/effects/observe.js";
import { canonicalState, ownedState } from "../../src/kinds/registry.js";
import { emptyState, type KernelState, type Op, type Ownership } from "../../src/kinds/types.js";
import { orderOps } from "../../src/core/plan/order.js";
import { diff } from "../../src/core/plan/diff.js";
import { qosState } from "../../src/core/plan/qos.js";
import { renderTcOps, tcBatchArgv, tcBatchInput } from "../../src/kinds/tc/render.js";
import type { QosInterface } from "../../src/policy/types.js";
import { run } from "../../src/effects/exec.js";
import { requireKernel } from "../helpers/kernel.js";

const kernel = requireKernel();

const DEV = "up0";
/** A second device for generated trees. */
const WIDE = "up1";
const own: Ownership = {
  protocol: 99,
  tables: { min: 100, max: 120 },
  priorities: { min: 1000, max: 1100 },
  qosInterfaces: [DEV, WIDE],
  nftTable: { family: "inet", name: "backhaul" },
  sysctls: [],
  uplinkInterfaces: [],
  addresses: [],
};

const qos = (bulkRate: number): QosInterface => ({
  interface: DEV,
  rate: 20_000_000,
  defaultClass: "bulk",
  classes: {
    control: { rate: 2_000_000, ceil: 20_000_000, priority: 0, dscp: 46, ports: [22, 443] },
    interactive: { rate: 6_000_000, ceil: 20_000_000, priority: 1, dscp: 34, ports: [80, 8080] },
    bulk: { rate: bulkRate, ceil: 18_000_000, priority: 2, dscp: 10, ports: [] },
    voice: { rate: 1_234_567, ceil: 3_333_333, priority: 0, ports: [5060] },
  },
});

function desiredOf(q: readonly QosInterface[]): KernelState {
  const t = qosState(q);
  return canonicalState({ ...emptyState(), qdisc: t.qdiscs, class: t.classes, filter: t.filters });
}

const tcOnly = (s: KernelState): KernelState =>
  canonicalState({ ...emptyState(), qdisc: s.qdisc, class: s.class, filter: s.filter });

describe.skipIf(!kernel)("QoS tree on a real kernel", () => {
  const ns = `${newLabId()}q`;

  beforeAll(async () => {
    await addNamespace(ns);
    const lines = [
      `link add ${DEV} type veth peer name ${DEV}p`,
      `link add ${WIDE} type veth peer name ${WIDE}p`,
      ...[DEV, `${DEV}p`, WIDE, `${WIDE}p`].map((l) => `link set ${l} up`),
    ];
    await run(["ip", "-batch", "-"], { netns: ns, input: lines.map((l) => `${l}\n`).join("") });
  });
  afterAll(async () => {
    await deleteNamespace(ns);
  });

  /** The owned qdiscs, classes and filters of one device. */
  const owned = async (dev = DEV): Promise<KernelState> => {
    const s = tcOnly(ownedState(await observe({ netns: ns, kinds: ["qdisc", "class", "filter"] }), own));
    return {
      ...s,
      qdisc: s.qdisc.filter((o) => o.dev === dev),
      class: s.class.filter((o) => o.dev === dev),
      filter: s.filter.filter((o) => o.dev === dev),
    };
  };

  /** Plan from what is observed to `desired`, apply with tc, return the ops. */
  async function converge(desired: KernelState, dev = DEV): Promise<Op[]> {
    const ops = orderOps(diff(await owned(dev), desired, own));
    const rendered = renderTcOps(ops);
    if (rendered.flat().length > 0) await run(tcBatchArgv(), { netns: ns, input: tcBatchInput(rendered) });
    return ops;
  }

  it("applies the desired tree and observes exactly the desired objects", async () => {
    const desired = desiredOf([qos(10_000_000)]);
    const ops = await converge(desired);
    // The veth's default root qdisc (noqueue) is replaced, every class and filter added.
    expect(ops.filter((o) => o.op === "change").map((o) => o.op === "change" && o.before.kind)).toEqual([
      "qdisc",
    ]);
    expect(await owned()).toEqual(desired);
    expect(diff(await owned(), desired, own)).toEqual([]);
  });

  it("changes a class's rate in place and converges", async () => {
    const desired = desiredOf([qos(7_500_000)]);
    const ops = await converge(desired);
    expect(ops.map((o) => `${o.op} ${o.op === "delete" ? o.before.kind : o.after.kind}`)).toEqual([
      "change class",
    ]);
    expect(renderTcOps(ops)[0]![0]).toMatch(
      /^class change dev up0 parent 1:1 classid 1:10 htb rate 7500000bit/,
    );
    expect(await owned()).toEqual(desired);
  });

  it("moves a port to another class with a filter replace", async () => {
    const q = qos(7_500_000);
    const moved: QosInterface = {
      ...q,
      classes: { ...q.classes, voice: { ...q.classes["voice"]!, ports: [5061] } },
    };
    const desired = desiredOf([moved]);
    const ops = await converge(desired);
    expect(ops.every((o) => o.op === "change" && o.after.kind === "filter")).toBe(true);
    expect(await owned()).toEqual(desired);
  });

  it("a new default class changes classes and flowids in place, never the root qdisc", async () => {
    const q = qos(7_500_000);
    const desired = desiredOf([{ ...q, defaultClass: "interactive" }]);
    const ops = await converge(desired);
    expect(ops.some((o) => o.op !== "change")).toBe(false);
    expect(new Set(ops.map((o) => o.op === "change" && o.after.kind))).toEqual(new Set(["class", "filter"]));
    expect(
      renderTcOps(ops)
        .flat()
        .filter((l) => l.startsWith("filter replace")).length,
    ).toBeGreaterThan(0);
    expect(await owned()).toEqual(desired);
  });

  it("generated rates, ceilings and priorities read back exactly as computed (tc's rounding included)", async () => {
    const rate = fc.integer({ min: 8, max: 8 * 0xffffffff });
    const trees = fc.sample(
      fc.record({
        link: rate,
        classes: fc.array(fc.tuple(rate, rate, fc.integer({ min: 0, max: 7 })), {
          minLength: 1,
          maxLength: 12,
        }),
      }),
      { numRuns: 5, seed: 20261123 },
    );
    for (const t of trees) {
      const classes = Object.fromEntries(
        t.classes.map(([r, c, priority], i) => [
          `c${i}`,
          { rate: Math.min(r, c), ceil: Math.max(r, c), priority, ports: [1000 + i] },
        ]),
      );
      const desired = desiredOf([{ interface: WIDE, rate: t.link, defaultClass: "c0", classes }]);
      await converge(desired, WIDE);
      expect(await owned(WIDE)).toEqual(desired);
    }
    await converge(emptyState(), WIDE);
  });

  it("removing the shaping deletes the tree and leaves the kernel's default qdisc", async () => {
    await converge(emptyState());
    const after = await owned();
    expect(after.class).toEqual([]);
    expect(after.filter).toEqual([]);
    expect(after.qdisc.map((q) => [q.qdiscKind, q.handle])).toEqual([["noqueue", "0:"]]);
    // The default qdisc is the kernel's: nothing more to do.
    expect(diff(after, emptyState(), own)).toEqual([]);
  });
});
