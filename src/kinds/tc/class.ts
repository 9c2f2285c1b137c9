// HTB classes of a shaped interface: the link class and one per policy class.
import { type KindDriver, COMMON_PARTS } from "../driver.js";
import { formatRate } from "../../util/units.js";
import type { KernelState } from "../types.js";
import { htbDefaultBurst } from "./htb.js";
import { treeOf } from "./parse.js";
import { tcOpts } from "./qdisc.js";
import { renderTcOp } from "./render.js";

export interface TcClass {
  readonly kind: "class";
  readonly dev: string;
  readonly classid: string;
  readonly parent: string;
  readonly classKind: string;
  readonly options: Readonly<Record<string, string | number | boolean>>;
}

const rate = (v: unknown): string =>
  typeof v === "number" && Number.isSafeInteger(v) && v >= 0 ? formatRate(v) : String(v);

function describeClass(c: TcClass): string {
  const o = c.options;
  if (c.classKind !== "htb" || o["rate"] === undefined || o["ceil"] === undefined)
    return `${c.classKind} ${c.classid} dev ${c.dev} parent ${c.parent}${tcOpts(o)}`;
  const { rate: r, ceil, prio, burst, cburst, ...rest } = o;
  // Bursts only when they are not what tc derives from the rates.
  const bursts =
    burst === htbDefaultBurst(Number(r)) && cburst === htbDefaultBurst(Number(ceil))
      ? ""
      : ` burst ${String(burst)}b cburst ${String(cburst)}b`;
  return (
    `htb ${c.classid} dev ${c.dev} parent ${c.parent} rate ${rate(r)} ceil ${rate(ceil)}` +
    `${prio === undefined ? "" : ` prio ${String(prio)}`}${bursts}${tcOpts(rest)}`
  );
}

export const tcClass: KindDriver<TcClass, KernelState> = {
  kind: "class",
  ...COMMON_PARTS,
  key: (o) => `${o.dev} ${o.classid}`,
  owned: (o, own) => own.qosInterfaces.includes(o.dev),
  sources: ["tc", "tc-tree"],
  observe: (raw) => treeOf(raw).classes,
  inPlace: true,
  rank: 7,
  // htb refuses to delete a class that still has children.
  parentKey: (o) => `${o.dev} ${o.parent}`,
  command: { tool: "tc", render: renderTcOp },
  describe: describeClass,
  disruption: (op) => (op.op === "add" ? "none" : "in-place"),
  affectsLookup: () => false,
  slot: (o) => `class ${o.dev} ${o.classid}`,
  policyRef: (o) => ({ qos: { dev: o.dev, classid: o.classid } }),
  show: {
    place: 5,
    keep: (o, ctx) => ctx.links.has(o.dev),
    // Shown in their device's qdisc tree.
    sections: () => [],
  },
  cleanup: "remove",
};
