// nftables tables, one object per table holding its whole body in canonical JSON. Ours is the hotspot's
// NAT; foreign tables are observed and never changed, so drift can judge what they drop. Observed from
// `nft -j list ruleset`: handles, counter values, quota usage and element expiry
// dropped; sets, maps and chains sorted by name; each chain's rules in kernel order (order is meaning
// there). Rendered to an nft JSON batch (libnftables' schema, the one `nft -j list` prints, so any body
// the observer produced renders back without loss): a batch is one netlink transaction, all or nothing,
// and a change re-creates the table inside that one transaction (add, delete, add with the new body).
import { canonicalJson } from "../../util/canonical.js";
import { RenderError, type KindDriver, type OpOn, COMMON_PARTS } from "../driver.js";
import { isObject, objects, str, type Json } from "../json.js";
import { firstJson } from "../raw.js";
import type { KernelState, Op } from "../types.js";

export interface NftTable {
  readonly kind: "nft-table";
  readonly family: "ip" | "ip6" | "inet" | "arp" | "bridge" | "netdev";
  readonly name: string;
  /** The table's chains, rules, sets in a canonical JSON form (handles dropped). */
  readonly body: string;
}

export class NftRenderError extends RenderError {
  override name = "NftRenderError";
}

/** The chain of our NAT table. */
export const NAT_CHAIN = "postrouting";

/** nft table names: an identifier (letters, digits, "_", "."), as nft's grammar takes it unquoted. */
export function validNftName(name: string): boolean {
  return /^[A-Za-z][A-Za-z0-9_.]{0,63}$/.test(name);
}

const FAMILIES: readonly NftTable["family"][] = ["ip", "ip6", "inet", "arp", "bridge", "netdev"];

/** Keys the kernel assigns or changes: handles, counters' and quotas' running values, expiry. */
const VOLATILE = new Set(["handle", "expires", "used", "used_unit"]);

function scrub(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(scrub);
  if (!isObject(v)) return v;
  const out: Json = {};
  for (const [k, x] of Object.entries(v)) {
    if (VOLATILE.has(k)) continue;
    // A counter's packets/bytes change with traffic; that a rule counts is what we keep.
    out[k] = k === "counter" && isObject(x) && ("packets" in x || "bytes" in x) ? null : scrub(x);
  }
  return out;
}

const byName = (a: Json, b: Json): number => {
  const ka = `${str(a, "name") ?? ""}`;
  const kb = `${str(b, "name") ?? ""}`;
  return ka < kb ? -1 : ka > kb ? 1 : 0;
};

/** The table, or undefined when the output holds no table of that family and name. */
export function parseNftTable(json: unknown, family: string, name: string): NftTable | undefined {
  return parseNftTables(json).find((t) => t.family === family && t.name === name);
}

/**
 * Every table of a ruleset (`nft -j list ruleset`), ours and foreign: a foreign one is read so drift
 * can judge whether it drops what we forward.
 */
export function parseNftTables(json: unknown): NftTable[] {
  if (!isObject(json)) return [];
  const items = objects(json["nftables"]);
  const tables = new Map<string, { family: NftTable["family"]; name: string }>();
  for (const i of items) {
    const t = i["table"];
    if (!isObject(t)) continue;
    const fam = FAMILIES.find((f) => f === t["family"]);
    const name = str(t, "name");
    if (fam !== undefined && name !== undefined) tables.set(`${fam} ${name}`, { family: fam, name });
  }
  const groups = new Map<string, Map<string, Json[]>>();
  const rules = new Map<string, Map<string, unknown[]>>();
  for (const item of items) {
    const [type, body] = Object.entries(item)[0] ?? [];
    if (type === undefined || type === "metainfo" || type === "table" || !isObject(body)) continue;
    const id = `${String(body["family"])} ${String(body["table"])}`;
    if (!tables.has(id)) continue;
    const { family: _f, table: _t, ...rest } = scrub(body) as Json;
    if (type === "rule") {
      const chain = str(body, "chain");
      if (chain === undefined) continue;
      const { chain: _c, ...rule } = rest;
      const of = rules.get(id) ?? new Map<string, unknown[]>();
      of.set(chain, [...(of.get(chain) ?? []), rule]);
      rules.set(id, of);
      continue;
    }
    const of = groups.get(id) ?? new Map<string, Json[]>();
    of.set(type, [...(of.get(type) ?? []), rest]);
    groups.set(id, of);
  }
  return [...tables].map(([id, t]) => {
    const of = groups.get(id) ?? new Map<string, Json[]>();
    const chainRules = rules.get(id) ?? new Map<string, unknown[]>();
    const body: Json = {};
    for (const type of [...of.keys()].sort()) {
      const list = (of.get(type) ?? []).sort(byName);
      body[type] =
        type === "chain"
          ? list.map((c) => ({ ...c, rules: chainRules.get(str(c, "name") ?? "") ?? [] }))
          : list;
    }
    return { kind: "nft-table", family: t.family, name: t.name, body: canonicalJson(body) };
  });
}

/**
 * The batch goes as nft's argument, not on stdin: `nft -f -` opens /dev/stdin, which fails when stdin
 * is a socket (as execa's may be). One argument is one buffer, so still one transaction.
 */
export const nftArgv = (batch: string): string[] => ["nft", "-j", batch];

const isObj = isObject;

function tableId(t: NftTable): { family: string; name: string } {
  if (!FAMILIES.includes(t.family))
    throw new NftRenderError(`nft family ${JSON.stringify(t.family)} is not valid`);
  if (!validNftName(t.name))
    throw new NftRenderError(`nft table name ${JSON.stringify(t.name)} is not valid`);
  return { family: t.family, name: t.name };
}

/** The add commands that build a table from its canonical body: other objects (sets, maps) before chains, rules last. */
function createCommands(t: NftTable): unknown[] {
  const id = tableId(t);
  let body: unknown;
  try {
    body = JSON.parse(t.body);
  } catch {
    throw new NftRenderError(`nft table ${id.family} ${id.name}: body is not JSON`);
  }
  if (!isObj(body)) throw new NftRenderError(`nft table ${id.family} ${id.name}: body is not an object`);
  const where = { family: id.family, table: id.name };
  const out: unknown[] = [{ add: { table: id } }];
  const rules: unknown[] = [];
  const chains: unknown[] = [];
  for (const [type, list] of Object.entries(body)) {
    if (!/^[a-z_]+$/.test(type) || !Array.isArray(list) || !list.every(isObj))
      throw new NftRenderError(`nft table ${id.family} ${id.name}: "${type}" is not a list of objects`);
    for (const o of list) {
      const name = o["name"];
      if (typeof name !== "string" || name === "")
        throw new NftRenderError(`nft table ${id.family} ${id.name}: a ${type} without a name`);
      if (type !== "chain") {
        out.push({ add: { [type]: { ...o, ...where } } });
        continue;
      }
      const { rules: rs, ...chain } = o;
      if (rs !== undefined && (!Array.isArray(rs) || !rs.every(isObj)))
        throw new NftRenderError(
          `nft table ${id.family} ${id.name}: chain ${name}: rules is not a list of objects`,
        );
      chains.push({ add: { chain: { ...chain, ...where } } });
      for (const r of rs ?? []) rules.push({ add: { rule: { ...r, ...where, chain: name } } });
    }
  }
  return [...out, ...chains, ...rules];
}

/** The commands one op becomes. */
export function nftCommands(op: OpOn<NftTable> | Op): unknown[] {
  const t = op.op === "delete" ? op.before : op.after;
  if (t.kind !== "nft-table") throw new NftRenderError(`not an nft-table op: ${String(t.kind)}`);
  if (op.op === "delete") return [{ delete: { table: tableId(t) } }];
  if (op.op === "add") return createCommands(t);
  // "add" first makes the delete valid whatever the kernel holds; all three are one transaction.
  const id = tableId(t);
  return [{ add: { table: id } }, { delete: { table: id } }, ...createCommands(t)];
}

/** One JSON batch of rendered commands: one kernel transaction. */
export function nftBatch(commands: readonly unknown[]): string {
  return JSON.stringify({ nftables: commands });
}

/** One JSON batch for a run of nft-table ops; everything is rendered (and validated) before anything runs. */
export function renderNftBatch(ops: readonly OpOn<NftTable>[]): string {
  return nftBatch(ops.flatMap(nftCommands));
}

/** What a NAT table of our shape masquerades: its subnet and out interfaces (none: no uplink yet). */
export interface NatShape {
  readonly subnet: { readonly addr: string; readonly len: number } | undefined;
  readonly ifaces: readonly string[];
}

/** The NAT a table of our shape does; undefined for any other body. */
export function natOf(t: NftTable): NatShape | undefined {
  let body: unknown;
  try {
    body = JSON.parse(t.body);
  } catch {
    return undefined;
  }
  if (!isObject(body)) return undefined;
  const chains = (body as { chain?: { name?: string; rules?: { expr?: unknown[] }[] }[] }).chain;
  const keys = Object.keys(body);
  if (keys.length !== 1 || chains?.length !== 1 || chains[0]?.name !== NAT_CHAIN) return undefined;
  let subnet: NatShape["subnet"];
  const ifaces: string[] = [];
  for (const r of chains[0].rules ?? []) {
    const e = r.expr as
      | [
          { match?: { right?: { prefix?: { addr?: string; len?: number } } } },
          { match?: { right?: unknown } },
          { masquerade?: unknown },
        ]
      | undefined;
    const pre = e?.[0]?.match?.right?.prefix;
    const iface = e?.[1]?.match?.right;
    if (
      e?.length !== 3 ||
      typeof pre?.addr !== "string" ||
      typeof pre.len !== "number" ||
      typeof iface !== "string" ||
      !("masquerade" in e[2])
    )
      return undefined;
    if (subnet !== undefined && (subnet.addr !== pre.addr || subnet.len !== pre.len)) return undefined;
    subnet = { addr: pre.addr, len: pre.len };
    ifaces.push(iface);
  }
  return { subnet, ifaces };
}

/** "masquerade 100.64.50.0/24 out eth0, wwan0" for a table of our shape; undefined for any other body. */
export function describeNat(t: NftTable): string | undefined {
  const nat = natOf(t);
  if (nat === undefined) return undefined;
  return nat.subnet === undefined
    ? "masquerade nothing (no uplink interface)"
    : `masquerade ${nat.subnet.addr}/${nat.subnet.len} out ${nat.ifaces.join(", ")}`;
}

export const nftTable: KindDriver<NftTable, KernelState> = {
  kind: "nft-table",
  ...COMMON_PARTS,
  key: (o) => `${o.family} ${o.name}`,
  owned: (o, own) => o.family === own.nftTable.family && o.name === own.nftTable.name,
  sources: ["nft"],
  observe: (raw) => parseNftTables(firstJson(raw.nft)),
  inPlace: true,
  rank: 9,
  command: { tool: "nft", render: nftCommands },
  describe: (o) => {
    const nat = describeNat(o);
    return `nft table ${o.family} ${o.name}${nat === undefined ? "" : `: ${nat}`}`;
  },
  disruption: () => "in-place",
  affectsLookup: () => false,
  slot: (o) => `nft-table ${o.family} ${o.name}`,
  policyRef: () => ({ nft: true }),
  show: {
    place: 10,
    keep: () => true,
    sections: (tables) => [
      {
        title: "nftables",
        lines:
          tables.length === 0
            ? ["  no table"]
            : tables.map((t) => {
                const body = JSON.parse(t.body) as Record<string, { rules?: unknown[] }[]>;
                const chains = body["chain"] ?? [];
                const rules = chains.reduce((n, c) => n + (c.rules?.length ?? 0), 0);
                return `  table ${t.family} ${t.name}: ${chains.length} chains, ${rules} rules, ${(body["set"] ?? []).length} sets`;
              }),
      },
    ],
  },
  cleanup: "remove",
};
