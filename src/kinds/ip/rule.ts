// Policy-routing rules: the routing scheme's source rules, local-first rule and catch-all. Ours carry
// our protocol number and a priority from the policy's range.
import { RenderError, type Family, type KindDriver, COMMON_PARTS } from "../driver.js";
import { mapDefined, num, objects, str, type Json } from "../json.js";
import { firstJson, ipSection } from "../raw.js";
import type { KernelState } from "../types.js";
import { canonicalPrefix, dev, fam, hex32, ipLine, prefix, u32 } from "./common.js";
import { protocolName, protocolNumber, routeType, tableName, tableNumber } from "./names.js";

export type RuleAction = "lookup" | "blackhole" | "unreachable" | "prohibit" | "goto" | "nop";

export interface Rule {
  readonly kind: "rule";
  readonly family: Family;
  readonly priority: number;
  readonly not?: boolean;
  readonly from?: string;
  readonly to?: string;
  readonly iif?: string;
  readonly oif?: string;
  readonly fwmark?: number;
  /** Only present with fwmark; omitted when it is 0xffffffff. */
  readonly fwmask?: number;
  readonly action: RuleAction;
  /** For action "lookup". */
  readonly table?: number;
  /** For action "goto". */
  readonly goto?: number;
  readonly suppressPrefixlength?: number;
  /** DS field (tos) selector. */
  readonly tos?: number;
  /** IP protocol number selector (6 tcp, 17 udp, ...). */
  readonly ipproto?: number;
  /** Port selectors: "443" or a range "1000-2000". */
  readonly sport?: string;
  readonly dport?: string;
  /** "1000-2000" */
  readonly uidrange?: string;
  readonly l3mdev?: boolean;
  readonly protocol: number;
}

/**
 * A rule every packet matches that sends it to a table: where general traffic goes. Any selector
 * (source, destination, interfaces, mark, tos, protocol, ports, uid range, l3mdev, suppression)
 * makes it something narrower.
 */
export function isCatchAll(r: Rule): boolean {
  return (
    r.action === "lookup" &&
    !r.not &&
    r.from === undefined &&
    r.to === undefined &&
    r.iif === undefined &&
    r.oif === undefined &&
    r.fwmark === undefined &&
    r.tos === undefined &&
    r.ipproto === undefined &&
    r.sport === undefined &&
    r.dport === undefined &&
    r.uidrange === undefined &&
    !r.l3mdev &&
    r.suppressPrefixlength === undefined
  );
}

const IP_PROTOS: Readonly<Record<string, number>> = {
  icmp: 1,
  tcp: 6,
  udp: 17,
  dccp: 33,
  gre: 47,
  esp: 50,
  "ipv6-icmp": 58,
  sctp: 132,
};

function ipproto(v: unknown): number | undefined {
  if (typeof v === "number") return v;
  if (typeof v !== "string") return undefined;
  // -N prints "ipproto-6"
  const m = /^(?:ipproto-)?(\d+)$/.exec(v);
  if (m !== null) return Number(m[1]);
  return IP_PROTOS[v];
}

/** "443" or "1000-2000" from a single field or a start/end pair. */
function range(o: Json, k: string, start: string, end: string): string | undefined | null {
  const single = num(o, k);
  if (single !== undefined) return String(single);
  if (o[start] === undefined && o[end] === undefined) return undefined;
  const s = num(o, start);
  const e = num(o, end);
  if (s === undefined || e === undefined) return null;
  return s === e ? String(s) : `${s}-${e}`;
}

const RULE_ACTIONS: readonly RuleAction[] = ["blackhole", "unreachable", "prohibit"];

/** Rules of one family from `ip -N -j -d rule show`. */
export function parseRules(json: unknown, family: Family): Rule[] {
  return mapDefined(objects(json), (o) => {
    const priority = num(o, "priority");
    if (priority === undefined) return;
    const sel = (addrKey: string, lenKey: string): string | undefined | null => {
      const a = str(o, addrKey);
      if (a === undefined || a === "all") return o[addrKey] === undefined || a === "all" ? undefined : null;
      return canonicalPrefix(a, num(o, lenKey), family) ?? null;
    };
    const from = sel("src", "srclen");
    const to = sel("dst", "dstlen");
    const sport = range(o, "sport", "sport_start", "sport_end");
    const dport = range(o, "dport", "dport_start", "dport_end");
    const uidrange = range(o, "uidrange", "uid_start", "uid_end");
    if (from === null || to === null || sport === null || dport === null || uidrange === null) return;

    let action: RuleAction = "lookup";
    let table: number | undefined;
    let goto: number | undefined;
    const act = o["action"];
    if (act !== undefined) {
      // -N prints the action as its route type number (6 blackhole, 7 unreachable, 8 prohibit).
      const t = routeType(act);
      const a = RULE_ACTIONS.find((x) => x === t);
      if (a === undefined) return;
      action = a;
    } else if (o["goto"] !== undefined) {
      goto = num(o, "goto");
      if (goto === undefined) return;
      action = "goto";
    } else if ("nop" in o) {
      action = "nop";
    } else if (o["table"] !== undefined) {
      table = tableNumber(o["table"]);
      if (table === undefined) return;
    }
    const protocol = o["protocol"] === undefined ? 0 : protocolNumber(o["protocol"]);
    if (protocol === undefined) return;
    const fwmark = o["fwmark"] === undefined ? undefined : num(o, "fwmark");
    const fwmaskRaw = o["fwmask"] === undefined ? undefined : num(o, "fwmask");
    if (o["fwmark"] !== undefined && fwmark === undefined) return;
    if (o["fwmask"] !== undefined && fwmaskRaw === undefined) return;
    const fwmask = fwmark === undefined || fwmaskRaw === 0xffffffff ? undefined : fwmaskRaw;
    const tos = o["tos"] === undefined ? undefined : num(o, "tos");
    const proto = o["ipproto"] === undefined ? undefined : ipproto(o["ipproto"]);
    if (o["tos"] !== undefined && tos === undefined) return;
    if (o["ipproto"] !== undefined && proto === undefined) return;
    const suppress = num(o, "suppress_prefixlen");
    const iif = str(o, "iif");
    const oif = str(o, "oif");
    const rule: Rule = {
      kind: "rule",
      family,
      priority,
      ...("not" in o ? { not: true } : {}),
      ...(from !== undefined ? { from } : {}),
      ...(to !== undefined ? { to } : {}),
      ...(iif !== undefined ? { iif } : {}),
      ...(oif !== undefined ? { oif } : {}),
      ...(fwmark !== undefined ? { fwmark } : {}),
      ...(fwmask !== undefined ? { fwmask } : {}),
      action,
      ...(table !== undefined ? { table } : {}),
      ...(goto !== undefined ? { goto } : {}),
      ...(suppress !== undefined ? { suppressPrefixlength: suppress } : {}),
      ...(tos !== undefined && tos !== 0 ? { tos } : {}),
      ...(proto !== undefined ? { ipproto: proto } : {}),
      ...(sport !== undefined ? { sport } : {}),
      ...(dport !== undefined ? { dport } : {}),
      ...(uidrange !== undefined ? { uidrange } : {}),
      ...("l3mdev" in o ? { l3mdev: true } : {}),
      protocol,
    };
    return rule;
  });
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

/** The rule in the words of `ip rule`, for plans and logs. */
function describeRule(r: Rule): string {
  const parts = [`${fam(r.family)}${r.priority}:`];
  if (r.not) parts.push("not");
  parts.push(`from ${r.from ?? "all"}`);
  if (r.to !== undefined) parts.push(`to ${r.to}`);
  if (r.iif !== undefined) parts.push(`iif ${r.iif}`);
  if (r.oif !== undefined) parts.push(`oif ${r.oif}`);
  if (r.fwmark !== undefined) parts.push(`fwmark ${r.fwmark}${r.fwmask === undefined ? "" : `/${r.fwmask}`}`);
  if (r.action === "lookup") parts.push(`lookup ${r.table}`);
  else if (r.action === "goto") parts.push(`goto ${r.goto}`);
  else parts.push(r.action);
  if (r.suppressPrefixlength !== undefined) parts.push(`suppress_prefixlength ${r.suppressPrefixlength}`);
  return parts.join(" ");
}

const hexn = (n: number): string => `0x${n.toString(16)}`;

/** Every selector, with table and protocol names, as `show` lists a rule. */
export function ruleText(r: Rule): string {
  const sel = [
    r.not ? "not" : "",
    `from ${r.from ?? "all"}`,
    r.to !== undefined ? `to ${r.to}` : "",
    r.tos !== undefined ? `tos ${hexn(r.tos)}` : "",
    r.fwmark !== undefined
      ? `fwmark ${hexn(r.fwmark)}${r.fwmask !== undefined ? `/${hexn(r.fwmask)}` : ""}`
      : "",
    r.iif !== undefined ? `iif ${r.iif}` : "",
    r.oif !== undefined ? `oif ${r.oif}` : "",
    r.ipproto !== undefined ? `ipproto ${r.ipproto}` : "",
    r.sport !== undefined ? `sport ${r.sport}` : "",
    r.dport !== undefined ? `dport ${r.dport}` : "",
    r.uidrange !== undefined ? `uidrange ${r.uidrange}` : "",
    r.l3mdev ? "l3mdev" : "",
  ];
  const action =
    r.action === "lookup"
      ? r.table !== undefined
        ? `lookup ${tableName(r.table)}`
        : ""
      : r.action === "goto"
        ? `goto ${r.goto ?? "?"}`
        : r.action;
  const suppress =
    r.suppressPrefixlength !== undefined ? `suppress_prefixlength ${r.suppressPrefixlength}` : "";
  return [...sel, action, suppress, r.protocol !== 0 ? `proto ${protocolName(r.protocol)}` : ""]
    .filter(Boolean)
    .join(" ");
}

const PROTO_KERNEL = 2;

/** The three rules every kernel starts with: local, main and default lookups. */
/** The rules a fresh network namespace holds: local, main and (IPv4) default lookups. */
export function defaultRules(): Rule[] {
  const rule = (family: Family, priority: number, table: number): Rule => ({
    kind: "rule",
    family,
    priority,
    action: "lookup",
    table,
    protocol: PROTO_KERNEL,
  });
  return [rule(4, 0, 255), rule(4, 32766, 254), rule(4, 32767, 253), rule(6, 0, 255), rule(6, 32766, 254)];
}

function isDefaultRule(r: Rule): boolean {
  const defaults: readonly (readonly [number, number])[] = [
    [0, 255],
    [32766, 254],
    [32767, 253],
  ];
  return (
    r.protocol === PROTO_KERNEL &&
    r.action === "lookup" &&
    defaults.some(([p, t]) => r.priority === p && r.table === t) &&
    Object.keys(r).every((k) => ["kind", "family", "priority", "action", "table", "protocol"].includes(k))
  );
}

const opt = (v: string | number | boolean | undefined): string => (v === undefined ? "" : String(v));

/** The kernel allows duplicate priorities; a rule is identified by all of its selectors and its action. */
function ruleKey(o: Rule): string {
  return [
    o.family,
    o.priority,
    o.not ? "not" : "",
    opt(o.from),
    opt(o.to),
    opt(o.iif),
    opt(o.oif),
    opt(o.fwmark),
    opt(o.fwmask),
    o.action,
    opt(o.table),
    opt(o.goto),
    opt(o.suppressPrefixlength),
    opt(o.tos),
    opt(o.ipproto),
    opt(o.sport),
    opt(o.dport),
    opt(o.uidrange),
    o.l3mdev ? "l3mdev" : "",
  ].join(" ");
}

export const rule: KindDriver<Rule, KernelState> = {
  kind: "rule",
  ...COMMON_PARTS,
  key: ruleKey,
  bucket: (o) => o.priority,
  owned: (o, own) =>
    o.protocol === own.protocol && o.priority >= own.priorities.min && o.priority <= own.priorities.max,
  sources: ["ip-rule"],
  observe: (raw) => [...parseRules(ipSection(raw, "rule"), 4), ...parseRules(firstJson(raw.rules6), 6)],
  // A rule's key holds every selector and its action: two owned rules with one key are equal.
  inPlace: false,
  rank: 5,
  command: {
    tool: "ip",
    render(op) {
      if (op.op === "add") return [ipLine(op.after.family, ["rule", "add", ...ruleSpec(op.after)])];
      if (op.op === "delete") return [ipLine(op.before.family, ["rule", "del", ...ruleSpec(op.before)])];
      // Rules have no replace: add the new one first unless it is the same rule (then the add would clash).
      const del = ipLine(op.before.family, ["rule", "del", ...ruleSpec(op.before)]);
      const add = ipLine(op.after.family, ["rule", "add", ...ruleSpec(op.after)]);
      return ruleKey(op.before) === ruleKey(op.after) ? [del, add] : [add, del];
    },
  },
  describe: describeRule,
  disruption: (op) => (isCatchAll(op.op === "delete" ? op.before : op.after) ? "traffic-switch" : "in-place"),
  affectsLookup: () => true,
  slot: (o) => `rule ${o.family} ${o.priority}`,
  policyRef: (o) => ({
    priority: o.priority,
    family: o.family,
    ...(o.action === "lookup" && o.table !== undefined ? { lookup: o.table } : {}),
    ...(isCatchAll(o) ? { catchAll: true } : {}),
    routing: true,
  }),
  show: {
    place: 2,
    keep: (o) => !isDefaultRule(o),
    sections: (rules) =>
      ([4, 6] as const).map((f) => ({
        title: `Rules (IPv${f})`,
        lines: rules
          .filter((r) => r.family === f)
          .sort((a, b) => a.priority - b.priority)
          .map((r) => `  ${String(r.priority).padStart(5)}: ${ruleText(r)}`),
      })),
  },
  cleanup: "remove",
};
