import { describe, expect, it } from "vitest";
import type { Op, Qdisc, TcClass, TcFilter } from "../../src/kinds/types.js";
import { qosTree } from "../../src/core/plan/qos.js";
import { RenderError } from "../../src/kinds/driver.js";
import { lineOwner, renderTcOps, tcBatchArgv, tcBatchInput } from "../../src/kinds/tc/render.js";

const tree = qosTree({
  interface: "eth0",
  rate: 10_000_000,
  defaultClass: "bulk",
  classes: {
    bulk: { rate: 7_000_000, ceil: 10_000_000, priority: 2, ports: [] },
    control: { rate: 3_000_000, ceil: 10_000_000, priority: 0, dscp: 46, ports: [22] },
  },
});
const [root] = tree.qdiscs as [Qdisc];
const [link, bulk] = tree.classes as [TcClass, TcClass, TcClass];
const filters = tree.filters as TcFilter[];
const noqueue: Qdisc = {
  kind: "qdisc",
  dev: "eth0",
  handle: "0:",
  parent: "root",
  qdiscKind: "noqueue",
  options: {},
};

describe("tc rendering", () => {
  it("replaces the default root qdisc with htb, then adds classes and filters", () => {
    const ops: Op[] = [
      { op: "change", before: noqueue, after: root },
      { op: "add", after: link },
      { op: "add", after: bulk },
      { op: "add", after: filters[0]! },
      { op: "add", after: filters[2]! },
    ];
    expect(renderTcOps(ops)).toEqual([
      ["qdisc replace dev eth0 root handle 1: htb default 10 r2q 10 direct_qlen 1000"],
      ["class add dev eth0 parent 1: classid 1:1 htb rate 10000000bit ceil 10000000bit"],
      ["class add dev eth0 parent 1:1 classid 1:10 htb rate 7000000bit ceil 10000000bit prio 2"],
      [
        "filter add dev eth0 parent 1: protocol all pref 10 handle 800::1 u32 match u32 0x40b80000 0xf0fc0000 at 0 flowid 1:20",
      ],
      [
        "filter add dev eth0 parent 1: protocol all pref 10 handle 800::3 u32 match u32 0x45000000 0xff000000 at 0 " +
          "match u32 0x00060000 0x00ff0000 at 8 match u32 0x00000016 0x0000ffff at 20 flowid 1:20",
      ],
    ]);
  });

  it("changes classes in place; a filter with new keys is deleted and added, a new flowid replaced", () => {
    const faster = { ...bulk, options: { ...bulk.options, rate: 8_000_000, burst: 1600 } };
    const f = filters[2]!;
    const otherKeys = { ...f, matches: filters[4]!.matches };
    const otherClass = { ...f, flowid: "1:10" };
    expect(
      renderTcOps([
        { op: "change", before: bulk, after: faster },
        { op: "change", before: f, after: otherKeys },
        { op: "change", before: f, after: otherClass },
      ]),
    ).toEqual([
      ["class change dev eth0 parent 1:1 classid 1:10 htb rate 8000000bit ceil 10000000bit prio 2"],
      [
        "filter del dev eth0 parent 1: protocol all pref 10 handle 800::3 u32",
        expect.stringMatching(
          /^filter add dev eth0 parent 1: protocol all pref 10 handle 800::3 u32 .* at 20 flowid 1:20$/,
        ),
      ],
      [expect.stringMatching(/^filter replace dev eth0 parent 1: .* flowid 1:10$/)],
    ]);
  });

  it("a root delete implies the deletes under it", () => {
    const ops: Op[] = [
      { op: "delete", before: filters[0]! },
      { op: "delete", before: bulk },
      { op: "delete", before: link },
      { op: "delete", before: root },
    ];
    expect(renderTcOps(ops)).toEqual([[], [], [], ["qdisc del dev eth0 root"]]);
    // Without the root, each goes on its own.
    expect(renderTcOps(ops.slice(0, 2))).toEqual([
      ["filter del dev eth0 parent 1: protocol all pref 10 handle 800::1 u32"],
      ["class del dev eth0 parent 1:1 classid 1:10"],
    ]);
  });

  it("a changed htb root is deleted and added, and what was under it is added again", () => {
    const other = { ...root, options: { ...root.options, direct_qlen: 500 } };
    const faster = { ...bulk, options: { ...bulk.options, rate: 8_000_000, burst: 1600 } };
    expect(
      renderTcOps([
        { op: "change", before: root, after: other },
        { op: "change", before: bulk, after: faster },
      ]),
    ).toEqual([
      ["qdisc del dev eth0 root", "qdisc add dev eth0 root handle 1: htb default 10 r2q 10 direct_qlen 500"],
      ["class add dev eth0 parent 1:1 classid 1:10 htb rate 8000000bit ceil 10000000bit prio 2"],
    ]);
  });

  it("deletes another classifier's filter by its handle", () => {
    const matchall: TcFilter = {
      kind: "filter",
      dev: "eth0",
      parent: "1:",
      protocol: "all",
      pref: 5,
      filterKind: "matchall",
      handle: "0x1",
      flowid: "1:10",
      matches: [],
      options: {},
    };
    expect(renderTcOps([{ op: "delete", before: matchall }])).toEqual([
      ["filter del dev eth0 parent 1: protocol all pref 5 handle 0x1 matchall"],
    ]);
  });

  it("maps a batch line back to its op", () => {
    const rendered = [["a", "b"], [], ["c"]];
    expect(tcBatchInput(rendered)).toBe("a\nb\nc\n");
    expect([1, 2, 3, 4, 0].map((n) => lineOwner(rendered, n))).toEqual([0, 0, 2, undefined, undefined]);
    expect(tcBatchArgv()).toEqual(["tc", "-batch", "-"]);
  });

  it("refuses bad values before they reach a command", () => {
    const bad = (after: Qdisc | TcClass | TcFilter) => () => renderTcOps([{ op: "add", after }]);
    expect(bad({ ...bulk, dev: "eth0 root" })).toThrow(RenderError);
    expect(bad({ ...bulk, classid: "1:10;x" })).toThrow(/classid/);
    expect(bad({ ...bulk, options: { ...bulk.options, rate: 1.5 } })).toThrow(/rate/);
    expect(bad({ ...bulk, options: { ...bulk.options, prio: 9 } })).toThrow(/prio/);
    expect(bad({ ...bulk, options: { ...bulk.options, burst: 9000 } })).toThrow(/burst/);
    expect(bad({ ...root, qdiscKind: "fq_codel" })).toThrow(/only htb/);
    expect(bad({ ...filters[0]!, matches: [{ field: "ip dport", value: "22" }] })).toThrow(/raw u32/);
    expect(bad({ ...filters[0]!, handle: "800::1 action drop" })).toThrow(/handle/);
    expect(bad({ ...filters[0]!, flowid: "1:20 action drop" })).toThrow(/flowid/);
    expect(() => renderTcOps([{ op: "delete", before: { kind: "sysctl", name: "x", value: "1" } }])).toThrow(
      /not tc ops/,
    );
  });
});
