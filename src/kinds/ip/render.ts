// Route, rule, address and link ops as `ip -batch` lines. iproute2 6.1 takes no family flag inside a
// batch line ("-6 rule add" is refused) and a rule carries no address to infer its family from, so
// lines are grouped into batches that each run as `ip -4|-6 -batch -`. Every value is validated and
// printed in canonical form before it becomes part of a command.
import { keyOf } from "../registry.js";
import type { Address, Family, KernelState, Link, Op, Route, RouteScope, Rule, Sysctl } from "../types.js";
import { defaultRules } from "../../core/model-kernel/kernel.js";
import {
  formatAddress,
  formatPrefix,
  parseAddress,
  parseInterfacePrefix,
  parsePrefix,
} from "../../core/model-kernel/prefix.js";

export interface IpBatch {
  /** Run with `ip -4` or `ip -6`; absent when every line is family-neutral (links only). */
  readonly family?: Family;
  readonly lines: readonly string[];
}

export class RenderError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RenderError";
  }
}

/** The kernel's rules for interface names: 1–15 bytes, no '/', ':' or whitespace, not "." or "..". */
export function validInterfaceName(name: string): boolean {
  return (
    Buffer.byteLength(name, "utf8") >= 1 &&
    Buffer.byteLength(name, "utf8") <= 15 &&
    !/[/:\s]/.test(name) &&
    name !== "." &&
    name !== ".."
  );
}

function dev(name: string): string {
  if (!validInterfaceName(name)) throw new RenderError(`invalid interface name ${JSON.stringify(name)}`);
  return name;
}

function u32(n: number, what: string, min = 0, max = 0xffffffff): string {
  if (!Number.isInteger(n) || n < min || n > max)
    throw new RenderError(`${what} must be an integer in ${min}..${max}, got ${n}`);
  return String(n);
}

function hex32(n: number, what: string): string {
  u32(n, what);
  return `0x${n.toString(16)}`;
}

function prefix(text: string, family: Family): string {
  let p;
  try {
    p = parsePrefix(text);
  } catch (e) {
    throw new RenderError((e as Error).message);
  }
  if (p.family !== family) throw new RenderError(`${text} is not an IPv${family} prefix`);
  return formatPrefix(p);
}

function address(text: string, family: Family): string {
  let a;
  try {
    a = parseAddress(text);
  } catch (e) {
    throw new RenderError((e as Error).message);
  }
  if (a.family !== family) throw new RenderError(`${text} is not an IPv${family} address`);
  return formatAddress(a.family, a.value);
}

const SCOPES: readonly RouteScope[] = ["global", "site", "link", "host", "nowhere"];

/** The scope iproute2 gives an IPv4 route when none is named: only a different one is rendered. */
function defaultScope(r: Route): RouteScope {
  if (r.type === "local") return "host";
  if (r.type === "broadcast" || r.type === "multicast" || r.type === "anycast") return "link";
  if (r.type === "unicast" && r.gateway === undefined && !r.nexthops?.length) return "link";
  return "global";
}

function routeSpec(r: Route): string[] {
  const f = r.family;
  const out: string[] = [];
  if (r.type !== "unicast") out.push(r.type);
  out.push(prefix(r.dst, f), "table", u32(r.table, "table", 1), "proto", u32(r.protocol, "protocol", 0, 255));
  out.push("metric", u32(r.metric, "metric"));
  if (!SCOPES.includes(r.scope)) throw new RenderError(`invalid scope ${JSON.stringify(r.scope)}`);
  if (f === 4 && r.scope !== defaultScope(r)) out.push("scope", r.scope);
  if (r.nexthops && r.nexthops.length) {
    if (r.gateway !== undefined || r.dev !== undefined)
      throw new RenderError("a multipath route has no gateway/dev of its own");
    for (const h of r.nexthops) {
      out.push("nexthop");
      if (h.gateway !== undefined) out.push("via", address(h.gateway, f));
      out.push("dev", dev(h.dev), "weight", u32(h.weight, "weight", 1, 256));
      if (h.onlink) out.push("onlink");
    }
  } else {
    if (r.gateway !== undefined) out.push("via", address(r.gateway, f));
    if (r.dev !== undefined) out.push("dev", dev(r.dev));
    if (r.onlink) out.push("onlink");
  }
  if (r.prefsrc !== undefined) out.push("src", address(r.prefsrc, f));
  return out;
}

/** Delete by identity (type, prefix, table, metric, protocol): never by a looser match. */
function routeDeleteSpec(r: Route): string[] {
  const out: string[] = [];
  if (r.type !== "unicast") out.push(r.type);
  out.push(
    prefix(r.dst, r.family),
    "table",
    u32(r.table, "table", 1),
    "proto",
    u32(r.protocol, "protocol", 0, 255),
  );
  out.push("metric", u32(r.metric, "metric"));
  return out;
}

function ruleSpec(r: Rule): string[] {
  const f = r.family;
  const out: string[] = [];
  if (r.not) out.push("not");
  if (r.from !== undefined) out.push("from", prefix(r.from, f));
  if (r.to !== undefined) out.push("to", prefix(r.to, f));
  if (r.iif !== undefined) out.push("iif", dev(r.iif));
  if (r.oif !== undefined) out.push("oif", dev(r.oif));
  if (r.fwmark !== undefined)
    out.push(
      "fwmark",
      r.fwmask !== undefined
        ? `${hex32(r.fwmark, "fwmark")}/${hex32(r.fwmask, "fwmask")}`
        : hex32(r.fwmark, "fwmark"),
    );
  else if (r.fwmask !== undefined) throw new RenderError("fwmask without fwmark");
  out.push("priority", u32(r.priority, "priority"), "protocol", u32(r.protocol, "protocol", 0, 255));
  switch (r.action) {
    case "lookup":
      if (r.table === undefined) throw new RenderError("a lookup rule needs a table");
      out.push("lookup", u32(r.table, "table", 1));
      if (r.suppressPrefixlength !== undefined)
        out.push("suppress_prefixlength", u32(r.suppressPrefixlength, "suppress_prefixlength", 0, 128));
      break;
    case "goto":
      if (r.goto === undefined) throw new RenderError("a goto rule needs a target priority");
      out.push("goto", u32(r.goto, "goto"));
      break;
    case "blackhole":
    case "unreachable":
    case "prohibit":
    case "nop":
      out.push(r.action);
      break;
    default:
      throw new RenderError(`unknown rule action ${JSON.stringify(r.action)}`);
  }
  return out;
}

function addressSpec(a: Address): string[] {
  let p;
  try {
    p = parseInterfacePrefix(a.local);
  } catch (e) {
    throw new RenderError((e as Error).message);
  }
  if (p.family !== a.family) throw new RenderError(`${a.local} is not an IPv${a.family} address`);
  if (!SCOPES.includes(a.scope)) throw new RenderError(`invalid scope ${JSON.stringify(a.scope)}`);
  return [
    `${formatAddress(p.family, p.net)}/${p.len}`,
    "dev",
    dev(a.dev),
    ...(a.scope !== "global" ? ["scope", a.scope] : []),
  ];
}

interface Line {
  readonly family?: Family;
  readonly text: string;
}

function linkLine(before: Link | undefined, after: Link): Line[] {
  const out = ["link", "set", "dev", dev(after.name)];
  if (!before || before.adminUp !== after.adminUp) out.push(after.adminUp ? "up" : "down");
  if (!before || before.mtu !== after.mtu) out.push("mtu", u32(after.mtu, "mtu", 68));
  return out.length > 4 ? [{ text: out.join(" ") }] : [];
}

function opLines(op: Op): Line[] {
  const obj = op.op === "delete" ? op.before : op.after;
  switch (obj.kind) {
    case "route": {
      const f = obj.family;
      if (op.op === "add") return [{ family: f, text: ["route", "add", ...routeSpec(obj)].join(" ") }];
      if (op.op === "delete")
        return [{ family: f, text: ["route", "del", ...routeDeleteSpec(obj)].join(" ") }];
      const before = op.before as Route;
      // Same identity: one atomic replace. Another identity: make the new route before the old goes.
      if (keyOf(before) === keyOf(obj))
        return [{ family: f, text: ["route", "replace", ...routeSpec(obj)].join(" ") }];
      return [...opLines({ op: "add", after: obj }), ...opLines({ op: "delete", before })];
    }
    case "rule": {
      const f = obj.family;
      if (op.op === "add") return [{ family: f, text: ["rule", "add", ...ruleSpec(obj)].join(" ") }];
      if (op.op === "delete") return [{ family: f, text: ["rule", "del", ...ruleSpec(obj)].join(" ") }];
      // Rules have no replace: add the new one first unless it is the same rule (then the add would clash).
      const before = op.before as Rule;
      const del = opLines({ op: "delete", before });
      const add = opLines({ op: "add", after: obj });
      return keyOf(before) === keyOf(obj) ? [...del, ...add] : [...add, ...del];
    }
    case "address": {
      const f = obj.family;
      // Labs only (addresses are never owned): IPv6 addresses skip duplicate address detection.
      const nodad = f === 6 && op.op !== "delete" ? ["nodad"] : [];
      if (op.op === "add")
        return [{ family: f, text: ["address", "add", ...addressSpec(obj), ...nodad].join(" ") }];
      if (op.op === "delete") return [{ family: f, text: ["address", "del", ...addressSpec(obj)].join(" ") }];
      return [{ family: f, text: ["address", "replace", ...addressSpec(obj), ...nodad].join(" ") }];
    }
    case "link":
      if (op.op !== "change")
        throw new RenderError(`links are not created or deleted by backhaul (${obj.name})`);
      return linkLine(op.before as Link, obj);
    default:
      throw new RenderError(`${obj.kind} is not rendered as an ip command`);
  }
}

/** The lines of one op, each with the family its batch must run with (the executor maps lines back to ops). */
export function renderOpLines(op: Op): readonly { readonly family?: Family; readonly text: string }[] {
  return opLines(op);
}

/** Group lines into as few batches as possible, keeping their order. */
function toBatches(lines: readonly Line[]): IpBatch[] {
  const out: { family?: Family; lines: string[] }[] = [];
  for (const l of lines) {
    const last = out[out.length - 1];
    if (last && (l.family === undefined || last.family === undefined || last.family === l.family)) {
      if (last.family === undefined && l.family !== undefined) last.family = l.family;
      last.lines.push(l.text);
    } else out.push({ ...(l.family !== undefined ? { family: l.family } : {}), lines: [l.text] });
  }
  return out;
}

/** Render ops, in order, to `ip -batch` input. Throws RenderError on any invalid value before anything runs. */
export function renderOps(ops: readonly Op[]): IpBatch[] {
  return toBatches(ops.flatMap(opLines));
}

/** The argv that runs one batch (its lines go to standard input). */
export function batchArgv(b: IpBatch, extra: readonly string[] = []): string[] {
  return ["ip", ...(b.family ? [`-${b.family}`] : []), ...extra, "-batch", "-"];
}

export function batchInput(b: IpBatch): string {
  return b.lines.join("\n") + "\n";
}

export interface RenderStateOptions {
  /** Rules the namespace already holds (a fresh one holds the kernel's defaults). */
  readonly presentRules?: readonly Rule[];
  /** Veth peer name for each link (the peer's admin state gives the link its carrier). */
  readonly peerName?: (link: Link, index: number) => string;
}

export interface RenderedState {
  readonly batches: readonly IpBatch[];
  /** Sysctls to write once the links exist (not an ip command). */
  readonly sysctls: readonly Sysctl[];
  readonly peers: readonly string[];
}

/**
 * Load a whole state into a namespace that has only loopback: each link becomes a veth whose peer
 * (left in the same namespace) is up exactly when the link has carrier; every link is up while
 * addresses, routes and rules go in, and the ones meant to be down go down last.
 */
export function renderState(state: KernelState, opts: RenderStateOptions = {}): RenderedState {
  const present = opts.presentRules ?? defaultRules();
  const peerName = opts.peerName ?? ((_l: Link, i: number) => `bhp${i}`);
  const lines: Line[] = [];
  const peers: string[] = [];
  const links = state.link.filter((l) => l.name !== "lo");
  links.forEach((l, i) => {
    const peer = dev(peerName(l, i));
    peers.push(peer);
    lines.push({ text: `link add ${dev(l.name)} mtu ${u32(l.mtu, "mtu", 68)} type veth peer name ${peer}` });
    if (l.carrier) lines.push({ text: `link set dev ${peer} up` });
    lines.push({ text: `link set dev ${l.name} up` });
  });
  for (const a of state.address) lines.push(...opLines({ op: "add", after: a }));
  for (const r of state.route) lines.push(...opLines({ op: "add", after: r }));
  const wanted = new Set(state.rule.map(keyOf));
  const have = new Set(present.map(keyOf));
  for (const r of present) if (!wanted.has(keyOf(r))) lines.push(...opLines({ op: "delete", before: r }));
  for (const r of state.rule) if (!have.has(keyOf(r))) lines.push(...opLines({ op: "add", after: r }));
  for (const l of links) if (!l.adminUp) lines.push({ text: `link set dev ${l.name} down` });
  return { batches: toBatches(lines), sysctls: state.sysctl, peers };
}
