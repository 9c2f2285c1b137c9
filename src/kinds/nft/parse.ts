// Our nftables table from `nft -j list table FAMILY NAME`, in one canonical body: handles, counter
// values, quota usage and element expiry dropped; sets, maps and chains sorted by name; each chain's
// rules in kernel order (order is meaning there).
import type { NftTable } from "../types.js";
import { canonicalJson } from "../../util/canonical.js";
import { isObject, objects, str, type Json } from "../json.js";

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
  const fam = FAMILIES.find((f) => f === family);
  if (fam === undefined || !isObject(json)) return undefined;
  const items = objects(json["nftables"]);
  const table = items.find((i) => {
    const t = i["table"];
    return isObject(t) && t["family"] === family && t["name"] === name;
  });
  if (table === undefined) return undefined;
  const groups = new Map<string, Json[]>();
  const rules = new Map<string, unknown[]>();
  for (const item of items) {
    const [type, body] = Object.entries(item)[0] ?? [];
    if (type === undefined || type === "metainfo" || type === "table" || !isObject(body)) continue;
    if (body["family"] !== family || body["table"] !== name) continue;
    const { family: _f, table: _t, ...rest } = scrub(body) as Json;
    if (type === "rule") {
      const chain = str(body, "chain");
      if (chain === undefined) continue;
      const { chain: _c, ...rule } = rest;
      rules.set(chain, [...(rules.get(chain) ?? []), rule]);
      continue;
    }
    groups.set(type, [...(groups.get(type) ?? []), rest]);
  }
  const body: Json = {};
  for (const type of [...groups.keys()].sort()) {
    const list = (groups.get(type) ?? []).sort(byName);
    body[type] =
      type === "chain" ? list.map((c) => ({ ...c, rules: rules.get(str(c, "name") ?? "") ?? [] })) : list;
  }
  return { kind: "nft-table", family: fam, name, body: canonicalJson(body) };
}
