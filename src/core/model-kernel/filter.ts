// The packet filter of the model kernel: what nftables' forward hook does to one IPv4 packet, read
// from the tables' canonical bodies (src/kinds/nft/table.ts). Pure.
//
// Every filter base chain on the hook runs, in priority order; an accept ends only its own chain, a
// drop ends the packet. A rule matches when all its matches hold; a match on something the packet does
// not settle (a mark, a rate limit, a fib lookup, an expression this model does not know) is unknown,
// and both outcomes are followed: the verdict is definite only when they agree. So "drop" here means
// dropped whatever the unknowns are, which is what drift may call a conflict.
import ipaddr from "ipaddr.js";
import { isObject, type Json } from "../../kinds/json.js";
import type { NftTable } from "../../kinds/types.js";

/** A new connection forwarded through the node. */
export interface ForwardedPacket {
  readonly iifname: string;
  readonly oifname: string;
  readonly saddr: string;
  readonly daddr: string;
  readonly l4proto: "tcp" | "udp";
  readonly sport: number;
  readonly dport: number;
}

/** Where a verdict was decided: a rule (1-based, in kernel order) or the base chain's policy. */
export interface FilterPlace {
  readonly table: NftTable;
  readonly chain: string;
  readonly rule: number | "policy";
}

export type FilterVerdict =
  | { readonly verdict: "accept" }
  | { readonly verdict: "drop"; readonly at: FilterPlace }
  | { readonly verdict: "unknown"; readonly at: FilterPlace };

type Tri = true | false | "unknown";

interface Chain {
  readonly name: string;
  readonly type?: string;
  readonly hook?: string;
  readonly prio?: number;
  readonly policy?: string;
  readonly rules: readonly { readonly expr?: readonly Json[] }[];
}

interface Body {
  readonly chain?: readonly Chain[];
  readonly set?: readonly { readonly name: string; readonly elem?: readonly unknown[] }[];
}

/** How a chain ended: a verdict, or it ran out / returned (the caller goes on). */
type Outcome =
  | { readonly end: "accept" | "drop"; readonly at: FilterPlace }
  | { readonly end: "return" }
  | { readonly end: "unknown"; readonly at: FilterPlace };

/** Following both sides of unknown matches doubles the work each time: past this, give up (unknown). */
const MAX_FORKS = 256;
/** Jumps deeper than nft allows (16) are a loop. */
const MAX_DEPTH = 16;

function bodyOf(t: NftTable): Body | undefined {
  try {
    const b: unknown = JSON.parse(t.body);
    return isObject(b) ? (b as Body) : undefined;
  } catch {
    return undefined;
  }
}

/** The verdict of the forward hook on an IPv4 packet, over every ip and inet table given. */
export function forwardVerdict(tables: readonly NftTable[], p: ForwardedPacket): FilterVerdict {
  const bases = tables
    .filter((t) => t.family === "ip" || t.family === "inet")
    .flatMap((t) => {
      const body = bodyOf(t);
      return (body?.chain ?? [])
        .filter((c) => c.hook === "forward" && c.type === "filter")
        .map((c) => ({ t, body: body!, c }));
    })
    .sort((a, b) => (a.c.prio ?? 0) - (b.c.prio ?? 0));
  let unknown: FilterPlace | undefined;
  for (const { t, body, c } of bases) {
    const budget = { forks: 0 };
    const o = runFrom({ table: t, body, packet: p, budget }, c, 0, 0);
    const end = o.end === "return" ? policyOf(t, c) : o;
    if (end.end === "drop") return { verdict: "drop", at: end.at };
    if (end.end === "unknown") unknown ??= end.at;
  }
  return unknown === undefined ? { verdict: "accept" } : { verdict: "unknown", at: unknown };
}

function policyOf(t: NftTable, c: Chain): Outcome {
  return { end: c.policy === "drop" ? "drop" : "accept", at: { table: t, chain: c.name, rule: "policy" } };
}

interface Run {
  readonly table: NftTable;
  readonly body: Body;
  readonly packet: ForwardedPacket;
  readonly budget: { forks: number };
}

/** The chain from rule i on. */
function runFrom(r: Run, c: Chain, i: number, depth: number): Outcome {
  for (; i < c.rules.length; i++) {
    const at: FilterPlace = { table: r.table, chain: c.name, rule: i + 1 };
    const step = ruleStep(r, c.rules[i]?.expr ?? [], at, depth);
    if (step === "next") continue;
    if (step.matched === true) return step.outcome;
    // Unknown whether the rule matched: the verdict is definite only when both ways agree.
    if (++r.budget.forks > MAX_FORKS) return { end: "unknown", at };
    return merge(step.outcome, runFrom(r, c, i + 1, depth), at);
  }
  return { end: "return" };
}

function merge(a: Outcome, b: Outcome, at: FilterPlace): Outcome {
  if (a.end === b.end && a.end !== "unknown") return a;
  return { end: "unknown", at: a.end === "unknown" ? a.at : b.end === "unknown" ? b.at : at };
}

/** What one rule does: nothing ("next"), or an outcome reached when it matched (surely or maybe). */
function ruleStep(
  r: Run,
  exprs: readonly Json[],
  at: FilterPlace,
  depth: number,
): "next" | { readonly matched: Tri; readonly outcome: Outcome } {
  let matched: Tri = true;
  for (const e of exprs) {
    const [key, arg] = Object.entries(e)[0] ?? [];
    if (key === undefined) continue;
    if (key === "match") {
      const m = isObject(arg) ? matchOf(r, arg) : "unknown";
      if (m === false) return "next";
      if (m === "unknown") matched = "unknown";
      continue;
    }
    const verdict = verdictOf(r, key, arg, at, depth);
    if (verdict === undefined) {
      // A statement that may stop the rule half way (a rate limit, a quota) leaves the rest unknown.
      if (key === "limit" || key === "quota") matched = "unknown";
      continue;
    }
    if (verdict.end === "return" && (key === "jump" || key === "continue")) {
      // A jump that came back, or `continue`: the rule's remaining statements and the chain go on.
      if (key === "continue") return "next";
      continue;
    }
    return { matched, outcome: verdict };
  }
  return "next";
}

/** The outcome of a verdict statement; undefined for one that is not a verdict (counter, log, ...). */
function verdictOf(r: Run, key: string, arg: unknown, at: FilterPlace, depth: number): Outcome | undefined {
  switch (key) {
    case "accept":
      return { end: "accept", at };
    case "drop":
    case "reject":
      return { end: "drop", at };
    case "return":
    case "continue":
      return { end: "return" };
    case "jump":
    case "goto": {
      const target = isObject(arg) ? arg["target"] : undefined;
      const c = r.body.chain?.find((x) => x.name === target);
      if (c === undefined || depth >= MAX_DEPTH) return { end: "unknown", at };
      const o = runFrom(r, c, 0, depth + 1);
      // A goto's chain that runs out returns past the chain that went there: the base chain's policy.
      return key === "goto" && o.end === "return" ? { end: "return" } : o;
    }
    case "queue":
      return { end: "unknown", at };
    default:
      return undefined;
  }
}

/** The value of a match's left side for the packet; undefined: not settled by it (unknown). */
type Value =
  | { readonly t: "name"; readonly v: string }
  | { readonly t: "addr"; readonly v: string }
  | { readonly t: "num"; readonly v: number }
  | { readonly t: "word"; readonly v: string }
  /** A header this packet does not have (a tcp port of a udp packet): the match fails. */
  | { readonly t: "absent" };

function leftOf(p: ForwardedPacket, left: unknown): Value | undefined {
  if (!isObject(left)) return undefined;
  const meta = left["meta"];
  if (isObject(meta)) {
    switch (meta["key"]) {
      case "iifname":
      case "iif":
        return { t: "name", v: p.iifname };
      case "oifname":
      case "oif":
        return { t: "name", v: p.oifname };
      case "l4proto":
        return { t: "word", v: p.l4proto };
      case "nfproto":
        return { t: "word", v: "ipv4" };
      case "protocol":
        return { t: "word", v: "ip" };
      default:
        return undefined;
    }
  }
  const ct = left["ct"];
  if (isObject(ct)) {
    if (ct["key"] === "state") return { t: "word", v: "new" };
    if (ct["key"] === "direction") return { t: "word", v: "original" };
    return undefined;
  }
  const payload = left["payload"];
  if (isObject(payload)) {
    const proto = payload["protocol"];
    const field = payload["field"];
    if (proto === "ip6") return { t: "absent" };
    if (proto === "ip") {
      if (field === "saddr") return { t: "addr", v: p.saddr };
      if (field === "daddr") return { t: "addr", v: p.daddr };
      if (field === "protocol") return { t: "word", v: p.l4proto };
      return undefined;
    }
    if (proto === "tcp" || proto === "udp" || proto === "th") {
      if (proto !== "th" && proto !== p.l4proto) return { t: "absent" };
      if (field === "sport") return { t: "num", v: p.sport };
      if (field === "dport") return { t: "num", v: p.dport };
      return undefined;
    }
    if (typeof proto === "string") return { t: "absent" };
  }
  return undefined;
}

function matchOf(r: Run, m: Json): Tri {
  const v = leftOf(r.packet, m["left"]);
  if (v === undefined) return "unknown";
  const op = m["op"];
  if (v.t === "absent") return false;
  const hit = member(r, v, m["right"]);
  if (hit === "unknown") return "unknown";
  if (op === "==" || op === "in") return hit;
  if (op === "!=") return !hit;
  return "unknown";
}

/** Whether the value is what the right side names (a value, prefix, range, set, named set, list of flags). */
function member(r: Run, v: Exclude<Value, { t: "absent" }>, right: unknown): Tri {
  if (Array.isArray(right)) return anyOf(right.map((x) => member(r, v, x)));
  if (typeof right === "string" && right.startsWith("@")) {
    const set = r.body.set?.find((s) => s.name === right.slice(1));
    return set?.elem === undefined ? "unknown" : anyOf(set.elem.map((x) => member(r, v, x)));
  }
  if (isObject(right)) {
    if (Array.isArray(right["set"])) return anyOf(right["set"].map((x: unknown) => member(r, v, x)));
    const prefix = right["prefix"];
    if (isObject(prefix) && v.t === "addr") return inPrefix(v.v, prefix["addr"], prefix["len"]);
    const range = right["range"];
    if (Array.isArray(range) && range.length === 2) return inRange(v, range[0], range[1]);
    return "unknown";
  }
  switch (v.t) {
    case "name":
      return typeof right === "string" ? nameMatches(v.v, right) : "unknown";
    case "word":
      return typeof right === "string" ? right === v.v : "unknown";
    case "num":
      return typeof right === "number" ? right === v.v : "unknown";
    case "addr":
      return typeof right === "string" ? sameAddress(v.v, right) : "unknown";
  }
}

function anyOf(xs: readonly Tri[]): Tri {
  if (xs.includes(true)) return true;
  return xs.includes("unknown") ? "unknown" : false;
}

/** nft's interface name wildcard: a trailing `*` matches any rest. */
function nameMatches(name: string, pattern: string): boolean {
  if (pattern.endsWith("*") && !pattern.endsWith("\\*")) return name.startsWith(pattern.slice(0, -1));
  return name === pattern;
}

function parse(a: unknown): ipaddr.IPv4 | ipaddr.IPv6 | undefined {
  return typeof a === "string" && ipaddr.isValid(a) ? ipaddr.parse(a) : undefined;
}

function sameAddress(a: string, b: string): Tri {
  const x = parse(a);
  const y = parse(b);
  if (x === undefined || y === undefined) return "unknown";
  return x.kind() === y.kind() && x.toString() === y.toString();
}

function inPrefix(a: string, net: unknown, len: unknown): Tri {
  const x = parse(a);
  const n = parse(net);
  if (x === undefined || n === undefined || typeof len !== "number") return "unknown";
  if (x.kind() !== n.kind()) return false;
  return x.match(n, len);
}

function inRange(v: Value, lo: unknown, hi: unknown): Tri {
  if (v.t === "num")
    return typeof lo === "number" && typeof hi === "number" ? lo <= v.v && v.v <= hi : "unknown";
  if (v.t !== "addr") return "unknown";
  const x = parse(v.v);
  const a = parse(lo);
  const b = parse(hi);
  if (x === undefined || a === undefined || b === undefined || x.kind() !== "ipv4" || a.kind() !== "ipv4")
    return "unknown";
  const n = (ip: ipaddr.IPv4 | ipaddr.IPv6): number =>
    (ip as ipaddr.IPv4).octets.reduce((s, o) => s * 256 + o, 0);
  return n(a) <= n(x) && n(x) <= n(b);
}
