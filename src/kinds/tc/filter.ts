// u32 filters that classify a shaped interface's traffic into its classes.
import { type KindDriver, COMMON_PARTS } from "../driver.js";
import { optionText } from "../show-text.js";
import type { KernelState } from "../types.js";
import { treeOf } from "./parse.js";
import { tcOpts } from "./qdisc.js";
import { renderTcOp } from "./render.js";
import type { U32Match } from "./u32.js";

export interface TcFilter {
  readonly kind: "filter";
  readonly dev: string;
  readonly parent: string;
  readonly protocol: string;
  readonly pref: number;
  readonly filterKind: string;
  readonly handle?: string;
  readonly flowid?: string;
  /** u32 keys, decoded; empty for other filter kinds. */
  readonly matches: readonly U32Match[];
  /** Other scalar options, flattened with dotted keys: actions and police of u32, everything of other kinds. */
  readonly options?: Readonly<Record<string, string | number | boolean>>;
}

/** The raw u32 keys of a filter as value/mask by offset, when every key is raw. */
function rawKeys(f: TcFilter): Map<number, { value: number; mask: number }> | undefined {
  const out = new Map<number, { value: number; mask: number }>();
  for (const m of f.matches) {
    const at = /^u32 at (\d+)$/.exec(m.field);
    const v = /^0x([0-9a-f]{8})\/0x([0-9a-f]{8})$/.exec(m.value);
    if (at === null || v === null) return undefined;
    out.set(Number(at[1]), { value: parseInt(v[1]!, 16), mask: parseInt(v[2]!, 16) });
  }
  return out;
}

const PROTOCOLS: Readonly<Record<number, string>> = { 6: "tcp", 17: "udp" };

/**
 * The classifications QoS writes, in words: "ip dscp 46", "ip6 tcp dport 22" (see core/plan/qos.ts for
 * the keys). Undefined for anything else.
 */
function qosMatch(f: TcFilter): string | undefined {
  const k = rawKeys(f);
  const w0 = k?.get(0);
  if (k === undefined || w0 === undefined) return undefined;
  const field = (off: number, mask: number, shift: number): number | undefined => {
    const x = k.get(off);
    return x !== undefined && x.mask >>> 0 === mask ? (x.value >>> shift) & (mask >>> shift) : undefined;
  };
  if (k.size === 1 && w0.mask >>> 0 === 0xf0fc0000 && w0.value >>> 28 === 4)
    return `ip dscp ${(w0.value >>> 18) & 0x3f}`;
  if (k.size === 1 && w0.mask >>> 0 === 0xffc00000 && w0.value >>> 28 === 6)
    return `ip6 dscp ${(w0.value >>> 22) & 0x3f}`;
  if (k.size !== 3) return undefined;
  const v4 = w0.mask >>> 0 === 0xff000000 && w0.value >>> 24 === 0x45;
  const v6 = w0.mask >>> 0 === 0xf0000000 && w0.value >>> 28 === 6;
  const proto = v4 ? field(8, 0x00ff0000, 16) : v6 ? field(4, 0x0000ff00, 8) : undefined;
  const port = v4 ? field(20, 0x0000ffff, 0) : v6 ? field(40, 0x0000ffff, 0) : undefined;
  if (proto === undefined || port === undefined || PROTOCOLS[proto] === undefined) return undefined;
  return `${v4 ? "ip" : "ip6"} ${PROTOCOLS[proto]} dport ${port}`;
}

function describeFilter(f: TcFilter): string {
  const head = `${f.filterKind}${f.handle === undefined ? "" : ` ${f.handle}`} dev ${f.dev} parent ${f.parent} protocol ${f.protocol} pref ${f.pref}`;
  const words = f.options === undefined ? qosMatch(f) : undefined;
  const what =
    words !== undefined ? ` ${words}` : f.matches.map((m) => ` match ${m.field} ${m.value}`).join("");
  return `${head}${what}${f.flowid === undefined ? "" : ` flowid ${f.flowid}`}${f.options === undefined ? "" : tcOpts(f.options)}`;
}

/** A filter as `show` lists it under its device. */
export function filterText(f: TcFilter): string {
  const what = f.matches.map((m) => `${m.field} ${m.value}`).join(", ") || optionText(f.options ?? {});
  return `parent ${f.parent} pref ${f.pref} ${f.protocol} ${f.filterKind}${what !== "" ? ` ${what}` : ""}${f.flowid !== undefined ? ` -> ${f.flowid}` : ""}`;
}

const opt = (v: string | undefined): string => (v === undefined ? "" : v);

export const filter: KindDriver<TcFilter, KernelState> = {
  kind: "filter",
  ...COMMON_PARTS,
  key: (o) => `${o.dev} ${o.parent} ${o.protocol} ${o.pref} ${opt(o.handle)}`,
  owned: (o, own) => own.qosInterfaces.includes(o.dev),
  sources: ["tc", "tc-tree"],
  observe: (raw) => treeOf(raw).filters,
  inPlace: true,
  rank: 8,
  command: { tool: "tc", render: renderTcOp },
  describe: describeFilter,
  disruption: () => "in-place",
  affectsLookup: () => false,
  slot: (o) => `filter ${o.dev} ${o.parent} ${o.protocol} ${o.pref} ${opt(o.handle)}`,
  policyRef: (o) => ({ qos: { dev: o.dev, ...(o.flowid === undefined ? {} : { classid: o.flowid }) } }),
  show: {
    place: 6,
    keep: (o, ctx) => ctx.links.has(o.dev),
    // Shown in their device's qdisc tree.
    sections: () => [],
  },
  cleanup: "remove",
};
