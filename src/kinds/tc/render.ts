// Qdisc, class and filter ops as `tc -batch -` lines, one list per op so that tc's "Command failed -:N"
// maps back to the op (lineOwner). Every value is validated before it becomes part of a command.
// In-place where tc allows it: `class change`, u32 `filter replace` of a node whose keys stay (u32
// ignores new keys on replace, so new keys delete and add the node), `qdisc replace` for a new root kind. htb refuses to change its own qdisc parameters, so such a change deletes and re-adds
// the root (which drops its classes and filters: the next pass adds them again).
// Deleting a root qdisc deletes the whole tree under it, so deletes of classes, filters and child
// qdiscs on a device whose root qdisc the same ops delete or replace render no lines.
import type { Op } from "../types.js";
import { plainEqual } from "../../util/canonical.js";
import { RenderError, type OpOn, type RenderContext } from "../driver.js";
import { dev } from "../ip/common.js";
import type { TcClass } from "./class.js";
import type { TcFilter } from "./filter.js";
import { htbDefaultBurst } from "./htb.js";
import type { Qdisc } from "./qdisc.js";
import type { U32Match } from "./u32.js";

type TcObject = Qdisc | TcClass | TcFilter;

const QDISC_HANDLE = /^[0-9a-f]{1,4}:$/;
const CLASSID = /^[0-9a-f]{1,4}:[0-9a-f]{1,4}$/;
const U32_HANDLE = /^[0-9a-f]{1,3}:[0-9a-f]{0,2}:[0-9a-f]{1,3}$/;
/** Other classifiers' handles, as tc prints them ("0x1", "1:"), for deleting foreign filters. */
const FILTER_HANDLE = /^(?:0x[0-9a-f]{1,8}|[0-9a-f]{1,8}|[0-9a-f]{0,4}:[0-9a-f]{0,4})$/;
const PROTOCOL = /^(?:[a-z][a-z0-9_]{0,15}|0x[0-9a-f]{1,4})$/;
const RAW_FIELD = /^u32 at (\d{1,4})$/;
const RAW_VALUE = /^(0x[0-9a-f]{8})\/(0x[0-9a-f]{8})$/;

function pattern(v: string, re: RegExp, what: string): string {
  if (!re.test(v)) throw new RenderError(`invalid ${what} ${JSON.stringify(v)}`);
  return v;
}

function int(v: unknown, what: string, min: number, max: number): string {
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max)
    throw new RenderError(`${what} must be an integer in ${min}..${max}, got ${JSON.stringify(v)}`);
  return String(v);
}

/** "root", or the parent as tc takes it (a classid or a qdisc handle). */
function parentArg(parent: string): string[] {
  if (parent === "root") return ["root"];
  if (CLASSID.test(parent) || QDISC_HANDLE.test(parent)) return ["parent", parent];
  throw new RenderError(`invalid parent ${JSON.stringify(parent)}`);
}

function knownOptions(o: Readonly<Record<string, unknown>>, allowed: readonly string[], what: string): void {
  const extra = Object.keys(o).filter((k) => !allowed.includes(k));
  if (extra.length > 0) throw new RenderError(`${what}: cannot render options ${extra.join(", ")}`);
}

function htbQdiscArgs(q: Qdisc): string[] {
  if (q.qdiscKind !== "htb") throw new RenderError(`qdisc ${q.qdiscKind}: only htb qdiscs are rendered`);
  knownOptions(q.options, ["default", "r2q", "direct_qlen"], "htb qdisc");
  const def = q.options["default"];
  if (typeof def !== "string" || !/^0x[0-9a-f]{1,4}$/.test(def))
    throw new RenderError(`htb qdisc: invalid default class ${JSON.stringify(def)}`);
  return [
    "htb",
    "default",
    def.slice(2),
    "r2q",
    int(q.options["r2q"], "htb r2q", 1, 0xffffffff),
    "direct_qlen",
    int(q.options["direct_qlen"], "htb direct_qlen", 1, 0xffffffff),
  ];
}

function qdiscHead(q: Qdisc): string[] {
  const handle = pattern(q.handle, QDISC_HANDLE, "qdisc handle");
  return ["dev", dev(q.dev), ...parentArg(q.parent), "handle", handle];
}

const isKernelDefault = (q: Qdisc): boolean => q.handle === "" || q.handle === "0:";

function htbClassArgs(c: TcClass): string[] {
  if (c.classKind !== "htb") throw new RenderError(`class ${c.classKind}: only htb classes are rendered`);
  const o = c.options;
  knownOptions(o, ["prio", "rate", "ceil", "burst", "cburst"], "htb class");
  const rate = int(o["rate"], "htb rate", 8, 8 * 0xffffffff);
  const ceil = int(o["ceil"], "htb ceil", 8, 8 * 0xffffffff);
  // tc derives the bursts from the rates; the model holds what it derives.
  if (o["burst"] !== htbDefaultBurst(Number(rate)) || o["cburst"] !== htbDefaultBurst(Number(ceil)))
    throw new RenderError(`htb class ${c.classid}: only tc's default burst and cburst are rendered`);
  return [
    "htb",
    "rate",
    `${rate}bit`,
    "ceil",
    `${ceil}bit`,
    ...(o["prio"] === undefined ? [] : ["prio", int(o["prio"], "htb prio", 0, 7)]),
  ];
}

function classHead(c: TcClass): string[] {
  const classid = pattern(c.classid, CLASSID, "classid");
  // A class under the qdisc itself: its parent is the qdisc's handle.
  const parent = c.parent === "root" ? `${classid.split(":")[0]}:` : c.parent;
  return ["dev", dev(c.dev), ...parentArg(parent), "classid", classid];
}

function u32Keys(matches: readonly U32Match[]): string[] {
  return matches.flatMap((m) => {
    const f = RAW_FIELD.exec(m.field);
    const v = RAW_VALUE.exec(m.value);
    if (f === null || v === null)
      throw new RenderError(`u32 match "${m.field} ${m.value}": only raw u32 keys are rendered`);
    return ["match", "u32", v[1]!, v[2]!, "at", int(Number(f[1]), "u32 offset", 0, 4095)];
  });
}

function filterHead(f: TcFilter): string[] {
  return [
    "dev",
    dev(f.dev),
    ...parentArg(f.parent),
    "protocol",
    pattern(f.protocol, PROTOCOL, "filter protocol"),
    "pref",
    int(f.pref, "filter pref", 1, 0xffff),
  ];
}

function u32FilterArgs(f: TcFilter): string[] {
  if (f.filterKind !== "u32") throw new RenderError(`filter ${f.filterKind}: only u32 filters are rendered`);
  if (f.options !== undefined && Object.keys(f.options).length > 0)
    throw new RenderError("u32 filter: cannot render actions or other options");
  if (f.handle === undefined) throw new RenderError("u32 filter: a handle is needed");
  if (f.flowid === undefined) throw new RenderError("u32 filter: a flowid is needed");
  if (f.matches.length === 0) throw new RenderError("u32 filter: no match keys");
  return [
    "handle",
    pattern(f.handle, U32_HANDLE, "u32 handle"),
    "u32",
    ...u32Keys(f.matches),
    "flowid",
    pattern(f.flowid, CLASSID, "flowid"),
  ];
}

const line = (words: readonly string[]): string => words.join(" ");

function renderAdd(o: TcObject): string[] {
  switch (o.kind) {
    case "qdisc":
      return [line(["qdisc", "add", ...qdiscHead(o), ...htbQdiscArgs(o)])];
    case "class":
      return [line(["class", "add", ...classHead(o), ...htbClassArgs(o)])];
    case "filter":
      return [line(["filter", "add", ...filterHead(o), ...u32FilterArgs(o)])];
  }
}

function renderDelete(o: TcObject): string[] {
  switch (o.kind) {
    case "qdisc":
      // The kernel's default root qdisc comes back by itself; it cannot be deleted.
      if (isKernelDefault(o) && o.parent === "root") return [];
      return [line(["qdisc", "del", "dev", dev(o.dev), ...parentArg(o.parent)])];
    case "class":
      return [line(["class", "del", ...classHead(o)])];
    case "filter": {
      const handle =
        o.handle === undefined
          ? []
          : [
              "handle",
              pattern(o.handle, o.filterKind === "u32" ? U32_HANDLE : FILTER_HANDLE, "filter handle"),
              pattern(o.filterKind, /^[a-z0-9_]+$/, "filter kind"),
            ];
      return [line(["filter", "del", ...filterHead(o), ...handle])];
    }
  }
}

function renderChange(before: TcObject, after: TcObject): string[] {
  if (before.kind === "qdisc" && after.kind === "qdisc") {
    // htb cannot change its own parameters in place: delete the root and add it again.
    if (before.qdiscKind === after.qdiscKind && before.handle === after.handle)
      return [...renderDelete(before), ...renderAdd(after)];
    return [line(["qdisc", "replace", ...qdiscHead(after), ...htbQdiscArgs(after)])];
  }
  if (before.kind === "class" && after.kind === "class") {
    if (before.parent !== after.parent || before.classKind !== after.classKind)
      return [...renderDelete(before), ...renderAdd(after)];
    return [line(["class", "change", ...classHead(after), ...htbClassArgs(after)])];
  }
  if (before.kind === "filter" && after.kind === "filter") {
    // u32 keeps a node's keys on replace (only its flowid and actions change): new keys need a new node.
    if (before.filterKind !== after.filterKind || !plainEqual(before.matches, after.matches))
      return [...renderDelete(before), ...renderAdd(after)];
    return [line(["filter", "replace", ...filterHead(after), ...u32FilterArgs(after)])];
  }
  throw new RenderError("a change must keep the object's kind");
}

const isTc = (o: { kind: string }): o is TcObject =>
  o.kind === "qdisc" || o.kind === "class" || o.kind === "filter";

/** Devices whose root qdisc these ops delete or replace: the tree under it goes with it. */
export function rootsReplaced(ops: readonly Op[]): Set<string> {
  const out = new Set<string>();
  for (const op of ops) {
    if (op.op === "add") continue;
    const b = op.before;
    if (b.kind !== "qdisc" || b.parent !== "root") continue;
    if (op.op === "change" || !isKernelDefault(b)) out.add(b.dev);
  }
  return out;
}

/**
 * The `tc -batch -` lines of one op. An op implied by another (a class delete under a deleted root) has
 * no lines; a class or filter change under a replaced root is an add, since the old one went with the root.
 */
export function renderTcOp<T extends TcObject>(op: OpOn<T>, ctx: RenderContext): string[] {
  const o = op.op === "delete" ? op.before : op.after;
  const isRoot = o.kind === "qdisc" && o.parent === "root";
  const underReplaced = !isRoot && ctx.replacedRoots.has(o.dev);
  switch (op.op) {
    case "add":
      return renderAdd(o);
    case "delete":
      return underReplaced ? [] : renderDelete(o);
    case "change":
      return underReplaced ? renderAdd(o) : renderChange(op.before, o);
  }
}

/** The lines of each tc op of a plan, in order (qdisc, class and filter ops only). */
export function renderTcOps(ops: readonly Op[]): string[][] {
  const ctx = { replacedRoots: rootsReplaced(ops) };
  return ops.map((op) => {
    const o = op.op === "delete" ? op.before : op.after;
    if (!isTc(o)) throw new RenderError(`${o.kind} ops are not tc ops`);
    return renderTcOp(op as OpOn<TcObject>, ctx);
  });
}

/** The batch input for rendered ops. */
export function tcBatchInput(rendered: readonly (readonly string[])[]): string {
  return rendered.flatMap((ls) => ls.map((l) => `${l}\n`)).join("");
}

/** argv of the batch run (`tc -batch -`), optionally with tc's `-force` (continue after an error). */
export function tcBatchArgv(opts: { force?: boolean } = {}): string[] {
  return ["tc", ...(opts.force ? ["-force"] : []), "-batch", "-"];
}

/** The index of the op whose lines include batch line `n` (1-based, as in tc's "Command failed -:N"). */
export function lineOwner(rendered: readonly (readonly string[])[], n: number): number | undefined {
  let seen = 0;
  for (let i = 0; i < rendered.length; i++) {
    seen += rendered[i]!.length;
    if (n <= seen && n >= 1) return i;
  }
  return undefined;
}
