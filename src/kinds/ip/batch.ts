// Ops of the ip kinds (link, address, rule, route) as `ip -batch` lines. iproute2 6.1 takes no family
// flag inside a batch line ("-6 rule add" is refused) and a rule carries no address to infer its family
// from, so lines are grouped into batches that each run as `ip -4|-6 -batch -`. The lines themselves
// come from each kind's driver, which validates every value before it becomes part of a command.
import { RenderError, type Family, type ToolLine } from "../driver.js";
import { driverOf, keyOf } from "../registry.js";
import type { KernelState, Link, Op, Rule, Sysctl } from "../types.js";
import { dev, u32 } from "./common.js";
import { defaultRules } from "./rule.js";

export interface IpBatch {
  /** Run with `ip -4` or `ip -6`; absent when every line is family-neutral (links only). */
  readonly family?: Family;
  readonly lines: readonly string[];
}

const NO_REPLACED_ROOTS: ReadonlySet<string> = new Set();

/** The lines of one op, each with the family its batch must run with (the executor maps lines back to ops). */
export function renderOpLines(op: Op): readonly ToolLine["ip"][] {
  const o = op.op === "delete" ? op.before : op.after;
  const command = driverOf(o).command;
  if (command.tool !== "ip") throw new RenderError(`${o.kind} is not rendered as an ip command`);
  return command.render(op, { replacedRoots: NO_REPLACED_ROOTS });
}

/** Group lines into as few batches as possible, keeping their order. */
function toBatches(lines: readonly ToolLine["ip"][]): IpBatch[] {
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
  return toBatches(ops.flatMap(renderOpLines));
}

/** The argv that runs one batch (its lines go to standard input). */
export function batchArgv(b: { readonly family?: Family }, extra: readonly string[] = []): string[] {
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
  const lines: ToolLine["ip"][] = [];
  const peers: string[] = [];
  const links = state.link.filter((l) => l.name !== "lo");
  links.forEach((l, i) => {
    const peer = dev(peerName(l, i));
    peers.push(peer);
    lines.push({ text: `link add ${dev(l.name)} mtu ${u32(l.mtu, "mtu", 68)} type veth peer name ${peer}` });
    if (l.carrier) lines.push({ text: `link set dev ${peer} up` });
    lines.push({ text: `link set dev ${l.name} up` });
  });
  for (const a of state.address) lines.push(...renderOpLines({ op: "add", after: a }));
  for (const r of state.route) lines.push(...renderOpLines({ op: "add", after: r }));
  const wanted = new Set(state.rule.map(keyOf));
  const have = new Set(present.map(keyOf));
  for (const r of present)
    if (!wanted.has(keyOf(r))) lines.push(...renderOpLines({ op: "delete", before: r }));
  for (const r of state.rule) if (!have.has(keyOf(r))) lines.push(...renderOpLines({ op: "add", after: r }));
  for (const l of links) if (!l.adminUp) lines.push({ text: `link set dev ${l.name} down` });
  return { batches: toBatches(lines), sysctls: state.sysctl, peers };
}
