// The model kernel: a mutable index over a KernelState that applies ops with the kernel's checks and
// answers route lookups with Linux policy-routing semantics. The pure API (src/core/model-kernel/index.ts)
// wraps it; checkPlan uses it directly to apply a plan incrementally.
import { isTransient, keyOf } from "../../kinds/registry.js";
import type {
  Address as AddressObject,
  Family,
  KernelObject,
  KernelState,
  KindName,
  Link,
  Op,
  Route,
  Rule,
} from "../../kinds/types.js";
import { KIND_NAMES } from "../../kinds/types.js";
import {
  contains,
  familyBits,
  formatAddress,
  maskOf,
  networkOf,
  parseAddress,
  parseInterfacePrefix,
  parsePrefix,
  type Address,
  type Prefix,
} from "../../util/prefix.js";
import { RouteTable, type TableEntry } from "./tables.js";

export const TABLE_LOCAL = 255;
export const TABLE_MAIN = 254;
export const TABLE_DEFAULT = 253;
export const PROTO_KERNEL = 2;
export { defaultRules } from "../../kinds/ip/rule.js";

export interface LookupQuery {
  readonly dst: string;
  /** Source address of the flow (`ip route get ... from`). */
  readonly src?: string;
  /** Input interface; absent means a locally generated packet (the kernel then matches "iif lo"). */
  readonly iif?: string;
  /** Output interface the socket is bound to (`oif`). */
  readonly oif?: string;
  readonly mark?: number;
}

export interface ResolvedNexthop {
  readonly dev: string;
  readonly gateway?: string;
  readonly weight: number;
  /** The device has no carrier; the route is still used (ignore_routes_with_linkdown is 0). */
  readonly linkdown: boolean;
}

export type LookupError = "blackhole" | "unreachable" | "prohibit" | "no-route";

export type LookupResult =
  | {
      readonly kind: "route";
      readonly type: "unicast" | "local" | "broadcast" | "multicast" | "anycast";
      readonly table: number;
      readonly rulePriority: number;
      readonly route: Route;
      /** Usable nexthops (several for a multipath route; the kernel picks one by flow hash). */
      readonly nexthops: readonly ResolvedNexthop[];
    }
  | {
      readonly kind: "error";
      readonly error: LookupError;
      /** errno the kernel returns: EINVAL 22, EHOSTUNREACH 113, EACCES 13, ENETUNREACH 101. */
      readonly errno: number;
      readonly table?: number;
      readonly rulePriority?: number;
      readonly route?: Route;
    };

const ERRNO: Readonly<Record<LookupError, number>> = {
  blackhole: 22,
  unreachable: 113,
  prohibit: 13,
  "no-route": 101,
};

function errorResult(
  error: LookupError,
  extra: { table?: number; rulePriority?: number; route?: Route } = {},
  errno: number = ERRNO[error],
): LookupResult {
  return { kind: "error", error, errno, ...extra };
}

/** The kernel's refusal of an op: its message as iproute2 prints it. */
export class KernelOpError extends Error {
  constructor(
    message: string,
    readonly op: Op,
  ) {
    super(message);
    this.name = "KernelOpError";
  }
}

interface RuleEntry {
  readonly rule: Rule;
  readonly seq: number;
  readonly from?: Prefix;
  readonly to?: Prefix;
}

interface Flow {
  readonly family: Family;
  readonly dst: Address;
  readonly src?: Address;
  readonly iif: string;
  readonly oif?: string;
  readonly mark: number;
}

interface LookupOptions {
  /** Gateway validation of IPv4: ignore carrier state and skip routes of scope global. */
  readonly gatewayCheck?: boolean;
}

const SCOPE_RANK: Readonly<Record<string, number>> = {
  global: 0,
  site: 200,
  link: 253,
  host: 254,
  nowhere: 255,
};

const tableKey = (f: Family, t: number): string => `${f}:${t}`;

export class ModelKernel {
  private readonly objects = new Map<KindName, Map<string, KernelObject>>();
  private readonly rules: Record<Family, RuleEntry[]> = { 4: [], 6: [] };
  private readonly tables = new Map<string, RouteTable>();
  private readonly derivedByDev = new Map<string, { table: RouteTable; entry: TableEntry }[]>();
  private seq = 0;

  private constructor() {
    for (const k of KIND_NAMES) this.objects.set(k, new Map());
  }

  /** Build the model from a state. Throws when the state itself is not one the kernel could hold. */
  static from(state: KernelState): ModelKernel {
    const k = new ModelKernel();
    for (const kind of KIND_NAMES) {
      if (kind === "route" || kind === "rule" || kind === "address") continue;
      for (const o of state[kind]) k.objects.get(kind)!.set(keyOf(o), o);
    }
    // Each device's derived routes are made once, after all its addresses, in the order one insert
    // after another leaves them: a device's entries go in when its last address does.
    const last = new Map<string, number>();
    state.address.forEach((a, i) => {
      k.objects.get("address")!.set(keyOf(a), a);
      last.set(a.dev, i);
    });
    for (const [dev] of [...last].sort((a, b) => a[1] - b[1])) k.rederive(dev);
    for (const r of state.rule) k.insertRule(r);
    for (const r of state.route) k.insertRoute(r);
    return k;
  }

  /** The current state in canonical order; routes the kernel derives from addresses are not part of it. */
  state(): KernelState {
    // Same order as canonicalState (by key), sorting on the keys the index already holds.
    const out: Record<string, KernelObject[]> = {};
    for (const kind of KIND_NAMES) {
      // Routes live only in their tables: their keys are made here, once.
      const entries: [string, KernelObject][] =
        kind === "route" ? this.routes().map((r) => [keyOf(r), r]) : [...this.objects.get(kind)!.entries()];
      out[kind] = entries.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map((e) => e[1]);
    }
    return out as unknown as KernelState;
  }

  private routes(): Route[] {
    const out: Route[] = [];
    for (const t of this.tables.values()) for (const e of t.entries()) if (!e.derived) out.push(e.route);
    return out;
  }

  /** The held object with the same identity as `o`, if any. */
  private existing(o: KernelObject): KernelObject | undefined {
    if (o.kind !== "route") return this.objects.get(o.kind)!.get(keyOf(o));
    return this.tables.get(tableKey(o.family, o.table))?.find(parsePrefix(o.dst), o.metric, false)?.route;
  }

  /** An object by kind and key; routes are found through their tables (see existing()). */
  get<K extends Exclude<KindName, "route">>(
    kind: K,
    key: string,
  ): Extract<KernelObject, { kind: K }> | undefined {
    return this.objects.get(kind)!.get(key) as Extract<KernelObject, { kind: K }> | undefined;
  }

  link(name: string): Link | undefined {
    return this.get("link", name);
  }

  addresses(): AddressObject[] {
    return [...(this.objects.get("address")!.values() as Iterable<AddressObject>)];
  }

  rulesOf(f: Family): readonly Rule[] {
    return this.rules[f].map((e) => e.rule);
  }

  /** Apply one op; on refusal nothing changes and the kernel's error is returned. */
  apply(op: Op): KernelOpError | undefined {
    try {
      this.applyOrThrow(op);
      return undefined;
    } catch (e) {
      if (e instanceof KernelOpError) return e;
      if (e instanceof Error) return new KernelOpError(e.message, op);
      throw e;
    }
  }

  private applyOrThrow(op: Op): void {
    const obj = op.op === "delete" ? op.before : op.after;
    const kind = obj.kind;
    const fail = (msg: string): never => {
      throw new KernelOpError(msg, op);
    };
    if (op.op === "change" && op.before.kind !== op.after.kind) fail("change must keep the object's kind");
    // Tracked flows end on their own: deleting those already gone deletes nothing, as conntrack does.
    if (op.op === "delete" && isTransient(op.before) && !this.existing(op.before)) return;
    if (op.op !== "add" && !this.existing(op.before))
      fail(
        kind === "route"
          ? "No such process"
          : kind === "address"
            ? "Cannot assign requested address"
            : "No such file or directory",
      );
    if (op.op === "change" && keyOf(op.before) !== keyOf(op.after) && this.existing(op.after))
      fail("File exists");
    if (op.op === "add" && this.existing(op.after)) fail("File exists");
    if (op.op === "add" || op.op === "change")
      this.validate(op.after, op.op === "change" ? op.before : undefined, fail);

    if (op.op !== "add") this.remove(op.before);
    if (op.op !== "delete") this.insert(op.after);
  }

  private validate(o: KernelObject, replacing: KernelObject | undefined, fail: (m: string) => never): void {
    switch (o.kind) {
      case "route":
        return this.validateRoute(o, replacing as Route | undefined, fail);
      case "rule":
        return validateRule(o, fail);
      case "address": {
        parseInterfacePrefix(o.local);
        if (!this.link(o.dev)) fail(`Cannot find device "${o.dev}"`);
        return;
      }
      default:
        return;
    }
  }

  private validateRoute(r: Route, replacing: Route | undefined, fail: (m: string) => never): void {
    const p = parsePrefix(r.dst);
    if (p.family !== r.family) fail(`IPv${r.family} route with an IPv${p.family} destination`);
    const table = this.tables.get(tableKey(r.family, r.table));
    if (!replacing && table?.find(p, r.metric, true)) fail("File exists");
    if (r.type !== "unicast") {
      if ((r.type === "local" || r.type === "broadcast") && r.dev !== undefined) this.checkDev(r.dev, fail);
      return;
    }
    const hops = nexthopsOf(r);
    if (hops.length === 0) fail("Nexthop device required");
    for (const h of hops) {
      if (h.dev === undefined) fail("the model needs dev on every nexthop (the observer always records it)");
      const dev = h.dev as string;
      this.checkDev(dev, fail);
      if (h.gateway === undefined) continue;
      const gw = parseAddress(h.gateway);
      if (gw.family !== r.family) fail("Nexthop has invalid gateway");
      if (h.onlink) {
        if (r.family === 6 && !this.onlinkGatewayFits(gw, dev))
          fail("Nexthop has invalid gateway or device mismatch.");
        continue;
      }
      if (!this.gatewayReachable(r.family, r.table, gw, dev)) fail("Nexthop has invalid gateway");
    }
  }

  private checkDev(dev: string, fail: (m: string) => never): void {
    const l = this.link(dev);
    if (!l) fail(`Cannot find device "${dev}"`);
    else if (!l.adminUp) fail("Nexthop device is not up");
  }

  /**
   * A gateway is valid when it resolves, first in the route's own table and then through the rules,
   * to a route on `dev` that has no gateway of its own: IPv4 looks only at routes of scope link or
   * host and ignores carrier; IPv6 takes the longest match and refuses one with a gateway.
   */
  private gatewayReachable(f: Family, table: number, gw: Address, dev: string): boolean {
    const flow: Flow = { family: f, dst: gw, iif: "lo", oif: dev, mark: 0 };
    const ok = (res: LookupResult | undefined): boolean => {
      if (!res || res.kind !== "route") return false;
      if (res.type !== "unicast" && res.type !== "local") return false;
      if (f === 6 && res.nexthops.some((h) => h.gateway !== undefined)) return false;
      return res.nexthops.some((h) => h.dev === dev) || res.type === "local";
    };
    const opts: LookupOptions = { gatewayCheck: f === 4 };
    if (!(f === 4 && table === TABLE_MAIN)) {
      const t = this.tables.get(tableKey(f, table));
      // IPv6 passes the device as a preference only here, not as a filter.
      const ownFlow: Flow = f === 6 ? { family: f, dst: gw, iif: "lo", mark: 0 } : flow;
      const own = t ? this.lookupTable(t, table, 0, ownFlow, opts) : undefined;
      if (own && own !== "continue") {
        if (ok(own)) return true;
        // IPv6 decides in the route's own table when that table holds any match.
        if (f === 6) return false;
      }
    }
    return ok(this.resolve(flow, opts));
  }

  /**
   * IPv6 accepts an on-link gateway unless the main table's longest match for it (other than a default
   * route or a reject route) is not unicast or leaves by another device.
   */
  private onlinkGatewayFits(gw: Address, dev: string): boolean {
    const main = this.tables.get(tableKey(6, TABLE_MAIN));
    if (!main) return true;
    for (const e of main.matches(gw)) {
      const r = e.route;
      if (
        e.prefix.len === 0 ||
        r.type === "blackhole" ||
        r.type === "unreachable" ||
        r.type === "prohibit" ||
        r.type === "throw"
      )
        return true;
      return r.type === "unicast" && nexthopsOf(r)[0]?.dev === dev;
    }
    return true;
  }

  private insert(o: KernelObject): void {
    switch (o.kind) {
      case "route":
        return this.insertRoute(o);
      case "rule":
        return this.insertRule(o);
      case "address":
        return this.insertAddress(o);
      case "link":
        this.objects.get("link")!.set(o.name, o);
        return this.rederive(o.name);
      default:
        this.objects.get(o.kind)!.set(keyOf(o), o);
    }
  }

  private remove(o: KernelObject): void {
    if (o.kind === "route") {
      const table = this.tables.get(tableKey(o.family, o.table));
      const e = table?.find(parsePrefix(o.dst), o.metric, false);
      if (table && e) table.remove(e);
      return;
    }
    const store = this.objects.get(o.kind)!;
    const key = keyOf(o);
    const current = store.get(key);
    if (!current) return;
    store.delete(key);
    if (current.kind === "rule") {
      const list = this.rules[current.family];
      const i = list.findIndex((e) => keyOf(e.rule) === key);
      if (i >= 0) list.splice(i, 1);
    } else if (current.kind === "address") {
      this.rederive(current.dev);
    } else if (current.kind === "link") {
      this.rederive(current.name);
    }
  }

  private tableFor(f: Family, t: number): RouteTable {
    const k = tableKey(f, t);
    let table = this.tables.get(k);
    if (!table) {
      table = new RouteTable();
      this.tables.set(k, table);
    }
    return table;
  }

  private insertRoute(r: Route): void {
    this.tableFor(r.family, r.table).insert({ route: r, prefix: parsePrefix(r.dst), derived: false });
  }

  private insertRule(r: Rule): void {
    this.objects.get("rule")!.set(keyOf(r), r);
    const e: RuleEntry = {
      rule: r,
      seq: this.seq++,
      ...(r.from !== undefined ? { from: parsePrefix(r.from) } : {}),
      ...(r.to !== undefined ? { to: parsePrefix(r.to) } : {}),
    };
    const list = this.rules[r.family];
    // After every rule of the same priority, as the kernel inserts.
    let i = list.length;
    while (i > 0 && list[i - 1]!.rule.priority > r.priority) i--;
    list.splice(i, 0, e);
  }

  private insertAddress(a: AddressObject): void {
    this.objects.get("address")!.set(keyOf(a), a);
    this.rederive(a.dev);
  }

  /** Recompute the routes the kernel adds for the addresses of one device. */
  private rederive(dev: string): void {
    for (const { table, entry } of this.derivedByDev.get(dev) ?? []) table.remove(entry);
    const out: { table: RouteTable; entry: TableEntry }[] = [];
    const link = this.link(dev);
    if (link) {
      for (const a of this.objects.get("address")!.values() as Iterable<AddressObject>) {
        if (a.dev !== dev) continue;
        for (const r of derivedRoutes(a, link)) {
          const table = this.tableFor(r.family, r.table);
          const entry: TableEntry = { route: r, prefix: parsePrefix(r.dst), derived: true };
          table.insert(entry);
          out.push({ table, entry });
        }
      }
    }
    if (out.length) this.derivedByDev.set(dev, out);
    else this.derivedByDev.delete(dev);
  }

  lookup(q: LookupQuery): LookupResult {
    const dst = parseAddress(q.dst);
    const src = q.src !== undefined ? parseAddress(q.src) : undefined;
    if (src && src.family !== dst.family)
      throw new Error(`source ${q.src} and destination ${q.dst} differ in family`);
    // IPv4 refuses a flow bound to a device that is down before looking at any rule.
    if (dst.family === 4 && q.oif !== undefined && q.oif !== "lo" && !this.link(q.oif)?.adminUp)
      return errorResult("no-route");
    const res = this.resolve({
      family: dst.family,
      dst,
      ...(src ? { src } : {}),
      iif: q.iif ?? "lo",
      ...(q.oif !== undefined ? { oif: q.oif } : {}),
      mark: q.mark ?? 0,
    });
    // IPv4 output bound to a device: when the tables have no answer the kernel assumes the
    // destination is on that link (ip_route_output_key_hash_rcu).
    if (res.kind === "error" && q.oif !== undefined && dst.family === 4 && q.iif === undefined) {
      const onLink: Route = {
        kind: "route",
        family: 4,
        table: TABLE_MAIN,
        type: "unicast",
        dst: `${q.dst}/32`,
        metric: 0,
        protocol: 0,
        scope: "link",
        dev: q.oif,
      };
      const link = this.link(q.oif);
      return {
        kind: "route",
        type: "unicast",
        table: TABLE_MAIN,
        rulePriority: -1,
        route: onLink,
        nexthops: [{ dev: q.oif, weight: 1, linkdown: link !== undefined && !link.carrier }],
      };
    }
    return res;
  }

  private resolve(flow: Flow, opts: LookupOptions = {}): LookupResult {
    const rules = this.rules[flow.family];
    for (let i = 0; i < rules.length; i++) {
      const { rule } = rules[i]!;
      if (!ruleMatches(rules[i]!, flow, this)) continue;
      switch (rule.action) {
        case "nop":
          continue;
        case "blackhole":
        case "unreachable":
        case "prohibit":
          // An unreachable rule answers ENETUNREACH; an unreachable route EHOSTUNREACH.
          return errorResult(
            rule.action,
            { rulePriority: rule.priority },
            rule.action === "unreachable" ? ERRNO["no-route"] : ERRNO[rule.action],
          );
        case "goto": {
          // The first rule of exactly the target priority; an unresolved goto is passed over.
          const t = rules.findIndex((e) => e.rule.priority === rule.goto);
          if (t < 0) continue;
          i = t - 1;
          continue;
        }
        case "lookup": {
          const table = this.tables.get(tableKey(flow.family, rule.table ?? TABLE_MAIN));
          if (!table) continue;
          const res = this.lookupTable(table, rule.table ?? TABLE_MAIN, rule.priority, flow, opts);
          if (res === "continue") continue;
          // suppress_prefixlength drops a successful answer whose prefix is too short (wg-quick's trick).
          if (
            res.kind === "route" &&
            rule.suppressPrefixlength !== undefined &&
            parsePrefix(res.route.dst).len <= rule.suppressPrefixlength
          )
            continue;
          return res;
        }
      }
    }
    return errorResult("no-route");
  }

  private lookupTable(
    table: RouteTable,
    tableId: number,
    rulePriority: number,
    flow: Flow,
    opts: LookupOptions,
  ): LookupResult | "continue" {
    for (const e of table.matches(flow.dst)) {
      const r = e.route;
      if (opts.gatewayCheck && SCOPE_RANK[r.scope]! < SCOPE_RANK.link!) continue;
      // IPv6 reject routes belong to lo: a flow bound to another device passes over them.
      if (flow.family === 6 && flow.oif !== undefined && flow.oif !== "lo" && isReject(r)) continue;
      switch (r.type) {
        case "throw":
          return "continue";
        case "blackhole":
        case "unreachable":
        case "prohibit":
          return errorResult(r.type, { table: tableId, rulePriority, route: r });
        case "local":
        case "broadcast":
        case "multicast":
        case "anycast": {
          if (!e.derived && r.dev !== undefined && !this.link(r.dev)?.adminUp) continue;
          // A broadcast route on a device without carrier follows ignore_routes_with_linkdown; local routes do not.
          if (
            r.type !== "local" &&
            r.dev !== undefined &&
            !opts.gatewayCheck &&
            !this.link(r.dev)?.carrier &&
            this.ignoresLinkdown(r.family, r.dev)
          )
            continue;
          // A flow bound to a device only takes routes through that device.
          if (r.dev !== undefined && flow.oif !== undefined && r.dev !== flow.oif) continue;
          const hops = r.dev !== undefined ? [{ dev: r.dev, weight: 1, linkdown: false }] : [];
          return { kind: "route", type: r.type, table: tableId, rulePriority, route: r, nexthops: hops };
        }
        case "unicast": {
          const hops = this.aliveNexthops(r, flow, opts);
          if (hops.length === 0) continue;
          return { kind: "route", type: "unicast", table: tableId, rulePriority, route: r, nexthops: hops };
        }
      }
    }
    return "continue";
  }

  private aliveNexthops(r: Route, flow: Flow, opts: LookupOptions): ResolvedNexthop[] {
    const out: ResolvedNexthop[] = [];
    for (const h of nexthopsOf(r)) {
      if (h.dev === undefined) continue;
      const link = this.link(h.dev);
      if (!link || !link.adminUp) continue;
      if (flow.oif !== undefined && h.dev !== flow.oif) continue;
      const linkdown = !link.carrier;
      if (linkdown && !opts.gatewayCheck && this.ignoresLinkdown(r.family, h.dev)) continue;
      out.push({
        dev: h.dev,
        weight: h.weight,
        linkdown,
        ...(h.gateway !== undefined ? { gateway: h.gateway } : {}),
      });
    }
    return out;
  }

  /** net.ipv{4,6}.conf.{all,DEV}.ignore_routes_with_linkdown: either one set means linkdown routes are skipped. */
  ignoresLinkdown(f: Family, dev: string): boolean {
    const sys = this.objects.get("sysctl")!;
    const base = `net.ipv${f}.conf`;
    return (
      sysctlOn(sys.get(`${base}.all.ignore_routes_with_linkdown`)) ||
      sysctlOn(sys.get(`${base}.${dev.replace(/\./g, "/")}.ignore_routes_with_linkdown`))
    );
  }

  /** Number of rules and routes held: for benchmarks and sanity checks. */
  size(): { rules: number; routes: number } {
    let routes = 0;
    for (const t of this.tables.values()) routes += t.size;
    return { rules: this.rules[4].length + this.rules[6].length, routes };
  }
}

function isReject(r: Route): boolean {
  return r.type === "blackhole" || r.type === "unreachable" || r.type === "prohibit" || r.type === "throw";
}

function sysctlOn(o: KernelObject | undefined): boolean {
  return o !== undefined && o.kind === "sysctl" && o.value.trim() === "1";
}

function validateRule(r: Rule, fail: (m: string) => never): void {
  if (r.from !== undefined && parsePrefix(r.from).family !== r.family) fail("Invalid source address.");
  if (r.to !== undefined && parsePrefix(r.to).family !== r.family) fail("Invalid dst address.");
  if (r.action === "lookup" && (r.table === undefined || r.table <= 0)) fail("lookup needs a table");
  if (r.action === "goto" && (r.goto === undefined || r.goto <= r.priority)) fail("Invalid argument");
  if (r.fwmask !== undefined && r.fwmark === undefined) fail("fwmask needs fwmark");
}

function deviceExists(k: ModelKernel, name: string): boolean {
  return name === "lo" || k.link(name) !== undefined;
}

function ruleMatches(e: RuleEntry, flow: Flow, k: ModelKernel): boolean {
  const r = e.rule;
  let m = true;
  if (e.from && (!flow.src || !contains(e.from, flow.src))) {
    // A flow without a source has address 0: it matches only a from prefix that holds 0.0.0.0/::.
    m = !flow.src && e.from.net === 0n && e.from.len === 0;
  }
  if (m && e.to && !contains(e.to, flow.dst)) m = false;
  // A rule naming a device that does not exist is kept but never matches ("[detached]"); lo always exists.
  if (m && r.iif !== undefined && (r.iif !== flow.iif || !deviceExists(k, r.iif))) m = false;
  if (m && r.oif !== undefined && (r.oif !== flow.oif || !deviceExists(k, r.oif))) m = false;
  if (m && r.fwmark !== undefined) {
    const mask = r.fwmask ?? 0xffffffff;
    if (((flow.mark ^ r.fwmark) & mask) >>> 0 !== 0) m = false;
  }
  return r.not ? !m : m;
}

/** Nexthops of a route as a uniform list. */
export function nexthopsOf(r: Route): { gateway?: string; dev?: string; weight: number; onlink?: boolean }[] {
  if (r.nexthops && r.nexthops.length) return r.nexthops.map((h) => ({ ...h }));
  return [
    {
      ...(r.gateway !== undefined ? { gateway: r.gateway } : {}),
      ...(r.dev !== undefined ? { dev: r.dev } : {}),
      weight: 1,
      ...(r.onlink ? { onlink: true } : {}),
    },
  ];
}

/**
 * The routes the kernel adds for an address: IPv4 keeps the local route while the device is down;
 * connected and broadcast routes exist only while it is up. IPv6 drops the address with the device.
 */
export function derivedRoutes(a: AddressObject, link: Link): readonly Route[] {
  // Addresses are immutable and the same objects pass after pass: their routes are made once.
  let memo = derivedMemo.get(a);
  if (memo === undefined) derivedMemo.set(a, (memo = {}));
  const key = link.adminUp ? "up" : "down";
  return (memo[key] ??= deriveRoutes(a, link));
}

const derivedMemo = new WeakMap<AddressObject, { up?: readonly Route[]; down?: readonly Route[] }>();

function deriveRoutes(a: AddressObject, link: Link): Route[] {
  const ifp = parseInterfacePrefix(a.local);
  const bits = familyBits(ifp.family);
  const host = formatAddress(ifp.family, ifp.net);
  const out: Route[] = [];
  const base = {
    kind: "route" as const,
    family: ifp.family,
    protocol: PROTO_KERNEL,
    dev: a.dev,
    prefsrc: host,
  };
  if (ifp.family === 6 && !link.adminUp) return out;
  out.push({ ...base, table: TABLE_LOCAL, type: "local", dst: `${host}/${bits}`, metric: 0, scope: "host" });
  if (!link.adminUp) return out;
  const net = networkOf(ifp);
  const netText = `${formatAddress(net.family, net.net)}/${net.len}`;
  // On loopback the whole IPv4 prefix is local (127.0.0.0/8), not a connected route in main.
  if (a.dev === "lo" && ifp.family === 4 && ifp.len < bits)
    out.push({ ...base, table: TABLE_LOCAL, type: "local", dst: netText, metric: 0, scope: "host" });
  else if (ifp.len < bits)
    out.push({
      ...base,
      table: TABLE_MAIN,
      type: "unicast",
      dst: netText,
      metric: ifp.family === 4 ? 0 : 256,
      scope: "link",
    });
  if (ifp.family === 4 && ifp.len < 31) {
    const bcast = net.net | (~maskOf(4, ifp.len) & 0xffffffffn);
    out.push({
      ...base,
      table: TABLE_LOCAL,
      type: "broadcast",
      dst: `${formatAddress(4, bcast)}/32`,
      metric: 0,
      scope: "link",
    });
  }
  return out;
}
