// Drift: every way the live kernel differs from the state the policy implies, classified. Pure.
//   missing  — an object of ours the desired state holds is gone
//   changed  — an object of ours is there, altered
//   extra    — an object of ours is there that the desired state no longer holds
//   conflict — a foreign object overrides ours: it holds the key of one we want, or the model kernel
//              says general traffic (or an uplink's own traffic) is decided by it and not by our rules
//              and routes, where without it ours would decide, or its packet filter drops what our
//              NAT forwards.
import ipaddr from "ipaddr.js";
import type {
  KernelObject,
  KernelState,
  KindName,
  NftTable,
  Ownership,
  Route,
  Rule,
} from "../kinds/types.js";
import { natOf } from "../kinds/nft/table.js";
import { forwardVerdict, type ForwardedPacket } from "./model-kernel/filter.js";
import {
  KIND_NAMES,
  describeObject,
  isOwned,
  keyOf,
  ownedState,
  sameObject,
  settledState,
} from "../kinds/registry.js";
import { conflicts, diff } from "./plan/diff.js";
import { ModelKernel, type LookupQuery, type LookupResult } from "./model-kernel/kernel.js";
import { genericDestinations } from "./invariants.js";

export type DriftClass = "missing" | "changed" | "extra" | "conflict";
export const DRIFT_CLASSES: readonly DriftClass[] = ["missing", "changed", "extra", "conflict"];

export interface DriftItem {
  readonly class: DriftClass;
  readonly kind: KindName;
  readonly key: string;
  /** What the policy implies (null: nothing of ours should be there). */
  readonly expected: KernelObject | null;
  /** What the kernel holds (null: nothing). */
  readonly actual: KernelObject | null;
  /** One line for people. */
  readonly detail: string;
}

/** Rules every kernel has (local, main, default): never a conflict. */
const KERNEL_RULE_PRIORITIES = new Set([0, 32766, 32767]);
/** Routes the kernel makes itself for addresses (proto kernel) never override anything. */
const PROTO_KERNEL = 2;

/** The flows whose routing decides where traffic goes: the node's own, and each uplink's own. */
export interface DriftFlows {
  /** Source addresses bound to an uplink (its traffic must leave through it). */
  readonly uplinkSources: readonly string[];
}

export function driftItems(
  observed: KernelState,
  desired: KernelState,
  own: Ownership,
  flows: DriftFlows,
): DriftItem[] {
  // What is no longer ours is not drift: the baseline may hold objects of an uplink or an interface
  // that has gone since (a tether unplugged).
  // Tracked flows are traffic, not configuration: never drift.
  const ours = settledState(ownedState(desired, own));
  const seen = settledState(observed);
  const clashes = conflicts(seen, ours, own);
  const out: DriftItem[] = clashes.map((c) => ({
    class: "conflict",
    kind: c.foreign.kind,
    key: keyOf(c.foreign),
    expected: c.desired,
    actual: c.foreign,
    detail: `a foreign ${describeObject(c.foreign)} holds the place of ours`,
  }));
  // The plan's diff needs a desired state without the clashing objects (it refuses to replace them).
  const clashed = new Set(clashes.map((c) => `${c.desired.kind} ${keyOf(c.desired)}`));
  const wanted = withoutKeys(ours, clashed);
  for (const op of diff(seen, wanted, own)) {
    if (op.op === "add") out.push(item("missing", op.after, null, `${describeObject(op.after)} is missing`));
    else if (op.op === "delete")
      out.push(item("extra", null, op.before, `${describeObject(op.before)} is no longer wanted`));
    else out.push(item("changed", op.after, op.before, `${describeObject(op.before)} differs`));
  }
  // The kernel as it would be once ours are as desired: what both model-kernel judgements ask.
  const target = converged(seen, wanted, own);
  const kernel = ModelKernel.from(target);
  return [...out, ...overrides(target, kernel, own, flows), ...filterDrops(target, kernel, wanted, own)];
}

function item(
  cls: DriftClass,
  expected: KernelObject | null,
  actual: KernelObject | null,
  detail: string,
): DriftItem {
  const o = (expected ?? actual)!;
  return { class: cls, kind: o.kind, key: keyOf(o), expected, actual, detail };
}

function withoutKeys(s: KernelState, keys: ReadonlySet<string>): KernelState {
  if (keys.size === 0) return s;
  const out: Record<string, readonly KernelObject[]> = {};
  for (const k of KIND_NAMES) out[k] = s[k].filter((o) => !keys.has(`${o.kind} ${keyOf(o)}`));
  return out as unknown as KernelState;
}

/** The kernel as it would be once ours are as desired: foreign objects as observed, ours as wanted. */
function converged(observed: KernelState, desired: KernelState, own: Ownership): KernelState {
  const out: Record<string, readonly KernelObject[]> = {};
  for (const k of KIND_NAMES) out[k] = [...observed[k].filter((o) => !isOwned(o, own)), ...desired[k]];
  return out as unknown as KernelState;
}

/** The same kernel without the foreign rules and routes that could override ours. */
function withoutOverriders(s: KernelState, own: Ownership): KernelState {
  return {
    ...s,
    rule: s.rule.filter((r) => isOwned(r, own) || KERNEL_RULE_PRIORITIES.has(r.priority)),
    route: s.route.filter(
      (r) => isOwned(r, own) || r.protocol === PROTO_KERNEL || r.dst !== defaultDst(r.family),
    ),
  };
}

const defaultDst = (f: 4 | 6): string => (f === 4 ? "0.0.0.0/0" : "::/0");

const decidedBy = (r: LookupResult): string =>
  r.kind === "route"
    ? `rule ${r.rulePriority} → table ${r.table} → ${r.route.dst} ${r.nexthops.map((h) => `dev ${h.dev}`).join(",")}`
    : `${r.error}${r.rulePriority === undefined ? "" : ` (rule ${r.rulePriority})`}`;

function overrides(
  target: KernelState,
  withForeign: ModelKernel,
  own: Ownership,
  flows: DriftFlows,
): DriftItem[] {
  const without = withoutOverriders(target, own);
  // No foreign rule or route that could override ours: nothing decides instead of ours.
  if (without.rule.length === target.rule.length && without.route.length === target.route.length) return [];
  const ours = ModelKernel.from(without);
  const queries: LookupQuery[] = genericDestinations(target).flatMap((dst) => [
    { dst },
    ...flows.uplinkSources.filter((s) => s.includes(":") === dst.includes(":")).map((src) => ({ dst, src })),
  ]);
  const out = new Map<string, DriftItem>();
  for (const q of queries) {
    const want = ours.lookup(q);
    if (want.kind !== "route" || !isOwned(want.route, own)) continue;
    const got = withForeign.lookup(q);
    if (got.kind === "route" && got.rulePriority === want.rulePriority && sameRoute(got.route, want.route))
      continue;
    const culprit = culpritOf(target, got, want.route.family, own);
    if (culprit === undefined) continue;
    const flow = q.src === undefined ? `traffic to ${q.dst}` : `traffic from ${q.src} to ${q.dst}`;
    const k = `${culprit.kind} ${keyOf(culprit)}`;
    if (!out.has(k))
      out.set(k, {
        class: "conflict",
        kind: culprit.kind,
        key: keyOf(culprit),
        expected: want.route,
        actual: culprit,
        detail: `foreign ${describeObject(culprit)} decides ${flow} (${decidedBy(got)}) instead of ours (${decidedBy(want)})`,
      });
  }
  return [...out.values()];
}

/** A new web connection of a hotspot client: what the NAT is there to forward. */
const CLIENT_PORTS = { l4proto: "tcp", sport: 40000, dport: 443 } as const;

/** A client's address in the subnet: the first host that is not the node's own. */
function clientIn(addr: string, len: number, own: string): string {
  const net = ipaddr.IPv4.networkAddressFromCIDR(`${addr}/${len}`).toByteArray();
  const host = (n: number): string => {
    const b = [...net];
    for (let i = 3, carry = n; i >= 0 && carry > 0; i--) {
      const v = b[i]! + carry;
      b[i] = v % 256;
      carry = Math.floor(v / 256);
    }
    return b.join(".");
  };
  return host(1) === own ? host(2) : host(1);
}

/**
 * Foreign filter chains that drop what our NAT forwards: a hotspot client's new connection to each
 * generic destination, routed as ours decide, judged by the model kernel's packet filter over every
 * table. Only a drop whatever the filter's unknowns are is a conflict.
 */
function filterDrops(
  target: KernelState,
  kernel: ModelKernel,
  desired: KernelState,
  own: Ownership,
): DriftItem[] {
  const ourNat = desired["nft-table"].find((t) => isOwned(t, own));
  const nat = ourNat === undefined ? undefined : natOf(ourNat);
  if (ourNat === undefined || nat?.subnet === undefined) return [];
  const { addr, len } = nat.subnet;
  const hotspot = target.address.find((a) => {
    const [ip, l] = a.local.split("/");
    return (
      a.family === 4 &&
      Number(l) === len &&
      ipaddr.IPv4.networkAddressFromCIDR(`${ip}/${len}`).toString() === addr
    );
  });
  if (hotspot === undefined) return [];
  const node = hotspot.local.split("/")[0]!;
  const client = clientIn(addr, len, node);
  const out = new Map<string, DriftItem>();
  for (const dst of genericDestinations(target).filter((d) => !d.includes(":"))) {
    const r = kernel.lookup({ dst, src: client });
    const oif = r.kind === "route" ? r.nexthops[0]?.dev : undefined;
    if (oif === undefined || !nat.ifaces.includes(oif)) continue;
    const packet: ForwardedPacket = {
      iifname: hotspot.dev,
      oifname: oif,
      saddr: client,
      daddr: dst,
      ...CLIENT_PORTS,
    };
    const v = forwardVerdict(target["nft-table"], packet);
    if (v.verdict !== "drop" || isOwned(v.at.table, own)) continue;
    const t: NftTable = v.at.table;
    const k = keyOf(t);
    if (out.has(k)) continue;
    const where = v.at.rule === "policy" ? "its policy drop" : `rule ${v.at.rule}`;
    out.set(k, {
      class: "conflict",
      kind: "nft-table",
      key: k,
      expected: ourNat,
      actual: t,
      detail: `foreign nft table ${t.family} ${t.name} drops what we forward: chain ${v.at.chain}, ${where}, drops ${client} (${hotspot.dev}) → ${dst}:443/tcp out ${oif}`,
    });
  }
  return [...out.values()];
}

const sameRoute = (a: Route, b: Route): boolean => a.kind === b.kind && keyOf(a) === keyOf(b);

/** The foreign rule or route that decided a lookup, if one did. */
function culpritOf(s: KernelState, r: LookupResult, family: 4 | 6, own: Ownership): KernelObject | undefined {
  const rule = s.rule.find(
    (x: Rule) =>
      x.family === family &&
      x.priority === r.rulePriority &&
      !isOwned(x, own) &&
      !KERNEL_RULE_PRIORITIES.has(x.priority),
  );
  if (rule !== undefined) return rule;
  return r.route !== undefined && !isOwned(r.route, own) ? r.route : undefined;
}

export function summarizeDrift(items: readonly DriftItem[]): Record<DriftClass, number> & { total: number } {
  const n = { missing: 0, changed: 0, extra: 0, conflict: 0 };
  for (const i of items) n[i.class]++;
  return { ...n, total: items.length };
}

export const DRIFT_FORMAT_VERSION = "1.0";

/** The drift report `backhaul drift --json` prints and the daemon's webhook posts (schemas/drift.schema.json). */
export interface DriftReport {
  readonly format_version: typeof DRIFT_FORMAT_VERSION;
  readonly policy_file: string;
  /** The namespace examined; null: the host. */
  readonly netns: string | null;
  readonly health_source: "assumed" | "daemon" | "probed";
  readonly summary: Record<DriftClass, number> & { readonly total: number };
  readonly drift: readonly DriftItem[];
}

export function driftReport(
  items: readonly DriftItem[],
  o: { policyFile: string; netns: string | undefined; healthSource: DriftReport["health_source"] },
): DriftReport {
  return {
    format_version: DRIFT_FORMAT_VERSION,
    policy_file: o.policyFile,
    netns: o.netns ?? null,
    health_source: o.healthSource,
    summary: summarizeDrift(items),
    drift: items,
  };
}

/**
 * The state to plan towards when drift is only reported (`heal: false`): each drifted object of ours
 * stays as the kernel holds it, unless the desired state wants it changed anyway (a switch moves the
 * route someone altered: that change is the daemon's own, not a heal).
 */
export function leavingDrift(desired: KernelState, drift: readonly DriftItem[]): KernelState {
  const ours = drift.filter((d) => d.class !== "conflict");
  if (ours.length === 0) return desired;
  const out: Record<string, KernelObject[]> = {};
  for (const k of KIND_NAMES) out[k] = [...desired[k]];
  for (const d of ours) {
    const list = out[d.kind]!;
    const i = list.findIndex((o) => keyOf(o) === d.key);
    const want = i < 0 ? null : list[i]!;
    const left = d.expected;
    const unchanged = want === null ? left === null : left !== null && sameObject(want, left);
    if (!unchanged) continue;
    if (i >= 0) list.splice(i, 1);
    if (d.actual !== null) list.push(d.actual);
  }
  return out as unknown as KernelState;
}
