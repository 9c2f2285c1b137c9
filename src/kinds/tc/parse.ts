// Parsers for tc output: qdiscs (`tc -j -d qdisc show`), classes and filters (a `tc -j -batch` run of
// `class show dev D` / `filter show dev D [ingress|egress]` commands). tc 6.1 prints classes as text
// even with -j, later versions may print JSON: both are read. Pure, never throw.
import type { TcClass } from "./class.js";
import type { TcFilter } from "./filter.js";
import type { Qdisc } from "./qdisc.js";
import {
  isObject,
  mapDefined,
  num,
  obj,
  objects,
  splitBatchOutput,
  str,
  toNumber,
  type Json,
  type Segment,
} from "../json.js";
import { firstJson, type RawObservation } from "../raw.js";
import { decodeU32, type U32Key } from "./u32.js";

type Scalar = string | number | boolean;

/** Fields the kernel changes on its own (counters, versions, offload state, assigned hash buckets). */
const VOLATILE = new Set([
  "refcnt",
  "direct_packets_stat",
  "ver",
  "not_in_hw",
  "in_hw",
  "in_hw_count",
  "skip_hw",
  "level",
  "leaf",
  "stats",
  "stats64",
  "xstats",
  // actions: reference counts, kernel-assigned index, timestamps
  "ref",
  "bind",
  "index",
  "installed",
  "last_used",
  "first_used",
  "expires",
]);

/** Scalar options, nested objects (and arrays of them) flattened to dotted keys, other arrays as JSON. */
export function flattenOptions(
  o: Json,
  prefix = "",
  out: Record<string, Scalar> = {},
): Record<string, Scalar> {
  for (const [k, v] of Object.entries(o)) {
    if (VOLATILE.has(k)) continue;
    const key = prefix + k;
    if (typeof v === "string" || typeof v === "boolean") out[key] = v;
    else if (typeof v === "number" && Number.isFinite(v)) out[key] = v;
    else if (Array.isArray(v) && v.some(isObject))
      v.forEach((x, i) => isObject(x) && flattenOptions(x, `${key}.${i}.`, out));
    else if (Array.isArray(v)) out[key] = JSON.stringify(v);
    else if (isObject(v)) flattenOptions(v, `${key}.`, out);
  }
  return out;
}

const INGRESS_PARENT = "ffff:fff1";

/** u32 fields that place a key node in the kernel's hash tables, or are read separately. */
const U32_PLACEMENT = new Set(["fh", "flowid", "classid", "order", "key_ht", "bkt"]);

/** A handle/classid as tc prints it ("1:", "1:10", ":1"). */
const HANDLE = /^[0-9a-f]*:[0-9a-f]*$/;

export function parseQdiscs(json: unknown, devFallback?: string): Qdisc[] {
  return mapDefined(objects(json), (o) => {
    const dev = str(o, "dev") ?? devFallback;
    const qdiscKind = str(o, "kind");
    const handle = str(o, "handle") ?? "";
    if (dev === undefined || qdiscKind === undefined) return;
    if (handle !== "" && !HANDLE.test(handle)) return;
    let parent: string;
    if (o["root"] === true) parent = "root";
    else {
      const p = str(o, "parent");
      if (p === undefined || !HANDLE.test(p)) return;
      parent = p === INGRESS_PARENT ? "ingress" : p;
    }
    const q: Qdisc = {
      kind: "qdisc",
      dev,
      handle,
      parent,
      qdiscKind,
      options: flattenOptions(obj(o, "options") ?? {}),
    };
    return q;
  });
}

const RATE_UNITS: Readonly<Record<string, number>> = {
  bit: 1,
  Kbit: 1e3,
  Mbit: 1e6,
  Gbit: 1e9,
  Tbit: 1e12,
  Kibit: 1024,
  Mibit: 1024 ** 2,
  Gibit: 1024 ** 3,
  Tibit: 1024 ** 4,
};
const SIZE_UNITS: Readonly<Record<string, number>> = { b: 1, Kb: 1024, Mb: 1024 ** 2, Gb: 1024 ** 3 };

/** tc's printed rates ("5Mbit") as bits per second and sizes ("1600b", "15Kb") as bytes. */
export function tcValue(key: string, v: string): Scalar {
  const n = toNumber(v);
  if (n !== undefined) return n;
  const m = /^(\d+(?:\.\d+)?)([A-Za-z]+)$/.exec(v);
  if (m !== null && m[1] !== undefined && m[2] !== undefined) {
    const units = /rate|ceil/.test(key) ? RATE_UNITS : SIZE_UNITS;
    const f = units[m[2]];
    if (f !== undefined) return Math.round(Number(m[1]) * f);
  }
  return v;
}

/** One text line of `tc class show dev D`: "class htb 1:10 parent 1:1 leaf 10: prio 0 rate 5Mbit ...". */
export function parseClassLine(line: string, dev: string): TcClass | undefined {
  const t = line.trim().split(/\s+/);
  if (t[0] !== "class" || t.length < 4) return;
  const classKind = t[1] as string;
  const classid = t[2] as string;
  if (!HANDLE.test(classid)) return;
  let i = 3;
  let parent: string;
  if (t[i] === "root") {
    parent = "root";
    i++;
  } else if (t[i] === "parent" && t[i + 1] !== undefined && HANDLE.test(t[i + 1] as string)) {
    parent = t[i + 1] as string;
    i += 2;
  } else return;
  const options: Record<string, Scalar> = {};
  for (; i + 1 < t.length; i += 2) {
    const k = t[i] as string;
    if (VOLATILE.has(k)) continue;
    options[k] = tcValue(k, t[i + 1] as string);
  }
  return { kind: "class", dev, classid, parent, classKind, options };
}

/** A class printed as JSON by tc versions that support it. */
function parseClassJson(o: Json, dev: string): TcClass | undefined {
  const classKind = str(o, "class") ?? str(o, "kind");
  const classid = str(o, "handle") ?? str(o, "classid");
  if (classKind === undefined || classid === undefined || !HANDLE.test(classid)) return;
  const p = o["root"] === true ? "root" : str(o, "parent");
  if (p === undefined || (p !== "root" && !HANDLE.test(p))) return;
  const options: Record<string, Scalar> = {};
  for (const [k, v] of Object.entries(flattenOptions(obj(o, "options") ?? {}))) {
    options[k] = typeof v === "string" ? tcValue(k, v) : v;
  }
  return { kind: "class", dev, classid, parent: p, classKind, options };
}

/** Give each u32 key of a filter's options its own name: tc prints them all as duplicate "match" keys. */
export function numberDuplicateMatches(text: string): string {
  let i = 0;
  return text.replace(/"match":\{/g, () => `"match#${i++}":{`);
}

function u32Keys(options: Json): U32Key[] | undefined {
  const keys: U32Key[] = [];
  for (const [k, v] of Object.entries(options)) {
    if (!k.startsWith("match#") && k !== "match") continue;
    if (!isObject(v)) return undefined;
    const value = typeof v["value"] === "string" ? parseInt(v["value"], 16) : NaN;
    const mask = typeof v["mask"] === "string" ? parseInt(v["mask"], 16) : NaN;
    const off = num(v, "off");
    const offmask = v["offmask"];
    if (!Number.isFinite(value) || !Number.isFinite(mask) || off === undefined) return undefined;
    keys.push({ value, mask, off, nexthdr: typeof offmask === "string" && offmask !== "" });
  }
  return keys;
}

export function parseFilters(json: unknown, dev: string): TcFilter[] {
  return mapDefined(objects(json), (o) => {
    const parent = str(o, "parent");
    const protocol = str(o, "protocol");
    const pref = num(o, "pref");
    const filterKind = str(o, "kind");
    const options = obj(o, "options");
    if (parent === undefined || protocol === undefined || pref === undefined || filterKind === undefined)
      return;
    // The per-priority placeholder and u32's hash tables are created by the kernel around the rules.
    if (options === undefined || "ht_divisor" in options) return;
    const handle = str(options, "fh");
    const flowid = str(options, "flowid") ?? str(options, "classid");
    if (filterKind === "u32") {
      const keys = u32Keys(options);
      if (keys === undefined) return;
      // What is left after the keys and u32's kernel-assigned placement (order, hash table, bucket):
      // actions, police, links to other hash tables.
      const extra = flattenOptions(
        Object.fromEntries(
          Object.entries(options).filter(([k]) => !U32_PLACEMENT.has(k) && !k.startsWith("match")),
        ),
      );
      return {
        kind: "filter",
        dev,
        parent,
        protocol,
        pref,
        filterKind,
        ...(handle !== undefined ? { handle } : {}),
        ...(flowid !== undefined ? { flowid } : {}),
        matches: decodeU32(keys, protocol),
        ...(Object.keys(extra).length > 0 ? { options: extra } : {}),
      } satisfies TcFilter;
    }
    const { fh: _fh, flowid: _f, classid: _c, ...rest } = options;
    return {
      kind: "filter",
      dev,
      parent,
      protocol,
      pref,
      filterKind,
      ...(handle !== undefined ? { handle } : {}),
      ...(flowid !== undefined ? { flowid } : {}),
      matches: [],
      options: flattenOptions(rest),
    } satisfies TcFilter;
  });
}

export type TreeCommand =
  | { readonly what: "class"; readonly dev: string }
  | {
      readonly what: "filter";
      readonly dev: string;
      readonly attach?: "ingress" | "egress";
    };

/** The batch lines for the class/filter read of the given commands. */
export function treeBatch(cmds: readonly TreeCommand[]): string {
  return cmds
    .map((c) =>
      c.what === "class"
        ? `class show dev ${c.dev}`
        : `filter show dev ${c.dev}${c.attach !== undefined ? ` ${c.attach}` : ""}`,
    )
    .map((l) => `${l}\n`)
    .join("");
}

/**
 * Which class/filter reads a device needs, from its qdiscs: classes and filters under a configured
 * root tree (a handle other than the kernel's default "0:"), filters on ingress/clsact.
 */
export function treeCommands(qdiscs: readonly Qdisc[]): TreeCommand[] {
  const devs = [...new Set(qdiscs.map((q) => q.dev))].sort();
  return devs.flatMap((dev): TreeCommand[] => {
    const mine = qdiscs.filter((q) => q.dev === dev);
    const configured = mine.some((q) => q.parent !== "ingress" && q.handle !== "0:" && q.handle !== "");
    const ingress = mine.find((q) => q.parent === "ingress");
    return [
      ...(configured ? [{ what: "class", dev } as const, { what: "filter", dev } as const] : []),
      ...(ingress !== undefined ? [{ what: "filter", dev, attach: "ingress" } as const] : []),
      ...(ingress?.qdiscKind === "clsact" ? [{ what: "filter", dev, attach: "egress" } as const] : []),
    ];
  });
}

/**
 * Assign the batch's output to its commands. Every filter command prints one JSON array; a class
 * command prints text lines (tc 6.1) or one JSON array: the number of arrays tells which.
 */
export function parseTree(
  segs: readonly Segment[],
  cmds: readonly TreeCommand[],
): { classes: TcClass[]; filters: TcFilter[] } {
  const jsonCount = segs.filter((s) => "json" in s).length;
  const classJson = jsonCount === cmds.length;
  const classes: TcClass[] = [];
  const filters: TcFilter[] = [];
  let s = 0;
  for (const c of cmds) {
    if (c.what === "class" && !classJson) {
      for (; s < segs.length; s++) {
        const seg = segs[s] as Segment;
        if ("json" in seg) break;
        const cl = parseClassLine(seg.text, c.dev);
        if (cl !== undefined) classes.push(cl);
      }
      continue;
    }
    // Skip stray text (warnings) up to this command's array.
    while (s < segs.length && !("json" in (segs[s] as Segment))) s++;
    const seg = segs[s++];
    if (seg === undefined || !("json" in seg)) break;
    if (c.what === "class") classes.push(...mapDefined(objects(seg.json), (o) => parseClassJson(o, c.dev)));
    else filters.push(...parseFilters(seg.json, c.dev));
  }
  return { classes, filters };
}

const treeCache = new WeakMap<RawObservation, { classes: TcClass[]; filters: TcFilter[] }>();

/** The classes and filters of one observation's tree reading, parsed once for both kinds. */
export function treeOf(raw: RawObservation): { classes: TcClass[]; filters: TcFilter[] } {
  if (raw.tree === undefined) return { classes: [], filters: [] };
  let t = treeCache.get(raw);
  if (t === undefined)
    treeCache.set(
      raw,
      (t = parseTree(splitBatchOutput(numberDuplicateMatches(raw.tree.out)), raw.tree.cmds)),
    );
  return t;
}

/** The qdiscs of one observation. */
export const qdiscsOf = (raw: RawObservation): Qdisc[] =>
  raw.qdiscs === undefined ? [] : parseQdiscs(firstJson(raw.qdiscs));
