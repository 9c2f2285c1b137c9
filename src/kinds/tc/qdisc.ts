// Qdiscs: the root HTB qdisc of an interface whose shaping the policy declares. The kernel's default
// qdiscs (handle 0:, noqueue, pfifo_fast, mq and its children) come back by themselves: never deleted.
import { type KindDriver, COMMON_PARTS } from "../driver.js";
import { optionText } from "../show-text.js";
import type { KernelState } from "../types.js";
import { filterText } from "./filter.js";
import { qdiscsOf } from "./parse.js";
import { renderTcOp } from "./render.js";
import type { TcClass } from "./class.js";

export interface Qdisc {
  readonly kind: "qdisc";
  readonly dev: string;
  /** "1:" style, or "" when the kernel gives none. */
  readonly handle: string;
  /** "root", "ingress" or a classid "1:10". */
  readonly parent: string;
  readonly qdiscKind: string;
  readonly options: Readonly<Record<string, string | number | boolean>>;
}

/** Put back by the kernel whenever the root tree goes: never deleted. */
export const isKernelDefaultQdisc = (q: Qdisc): boolean => q.handle === "0:" || q.handle === "";

/** Options as `tc` takes them, sorted. */
export const tcOpts = (o: Readonly<Record<string, string | number | boolean>>): string =>
  Object.keys(o)
    .sort()
    .map((k) => ` ${k} ${String(o[k])}`)
    .join("");

function describeQdisc(q: Qdisc): string {
  const where = q.parent === "root" ? "root" : `parent ${q.parent}`;
  const def = q.options["default"];
  if (q.qdiscKind === "htb" && typeof def === "string" && /^0x[0-9a-f]+$/.test(def)) {
    const { default: _d, ...rest } = q.options;
    const major = q.handle.split(":")[0];
    return `htb ${q.handle} dev ${q.dev} ${where} default ${major}:${def.slice(2)}${tcOpts(rest)}`;
  }
  return `${q.qdiscKind} ${q.handle} dev ${q.dev} ${where}${tcOpts(q.options)}`;
}

/** A device's qdiscs, classes under them and filters, as a tree. */
function qdiscTree(dev: string, s: KernelState): string[] {
  const qdiscs = s.qdisc.filter((q) => q.dev === dev);
  const classes = s.class.filter((c) => c.dev === dev);
  const out: string[] = [];
  const major = (h: string): string => h.split(":")[0] ?? "";
  const walkQdisc = (q: Qdisc, depth: number): void => {
    out.push(
      `${"  ".repeat(depth)}qdisc ${q.qdiscKind} ${q.handle} ${q.parent === "root" || q.parent === "ingress" ? q.parent : `parent ${q.parent}`} ${optionText(q.options)}`.trimEnd(),
    );
    const kids = classes.filter(
      (c) => c.parent === q.handle || (c.parent === "root" && major(c.classid) === major(q.handle)),
    );
    for (const c of kids) walkClass(c, depth + 1);
  };
  const walkClass = (c: TcClass, depth: number): void => {
    out.push(`${"  ".repeat(depth)}class ${c.classKind} ${c.classid} ${optionText(c.options)}`.trimEnd());
    for (const k of classes.filter((x) => x.parent === c.classid)) walkClass(k, depth + 1);
    for (const q of qdiscs.filter((x) => x.parent === c.classid)) walkQdisc(q, depth + 1);
  };
  for (const q of qdiscs.filter((x) => x.parent === "root" || x.parent === "ingress")) walkQdisc(q, 1);
  const filters = s.filter.filter((f) => f.dev === dev);
  if (filters.length > 0) out.push("  filters:");
  for (const f of [...filters].sort((a, b) => a.parent.localeCompare(b.parent) || a.pref - b.pref))
    out.push(`    ${filterText(f)}`);
  return out;
}

export const qdisc: KindDriver<Qdisc, KernelState> = {
  kind: "qdisc",
  ...COMMON_PARTS,
  key: (o) => `${o.dev} ${o.parent}`,
  owned: (o, own) => own.qosInterfaces.includes(o.dev) && o.parent !== "ingress",
  sources: ["tc"],
  observe: qdiscsOf,
  inPlace: true,
  deletable: (o) => !isKernelDefaultQdisc(o),
  rank: 6,
  command: { tool: "tc", render: renderTcOp },
  describe: describeQdisc,
  disruption: () => "in-place",
  affectsLookup: () => false,
  slot: (o) => `qdisc ${o.dev} ${o.parent}`,
  policyRef: (o) => ({ qos: { dev: o.dev } }),
  show: {
    place: 4,
    keep: (o, ctx) => ctx.links.has(o.dev) && !isKernelDefaultQdisc(o),
    // One section per device, with its classes and filters.
    sections: (_qdiscs, ctx) =>
      [...new Set([...ctx.state.qdisc, ...ctx.state.class, ...ctx.state.filter].map((x) => x.dev))]
        .sort()
        .map((dev) => ({ title: `Traffic control: ${dev}`, lines: qdiscTree(dev, ctx.state) })),
  },
  cleanup: "remove",
};
