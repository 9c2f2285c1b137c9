// nft-table ops → one JSON batch for `nft -j BATCH` (libnftables' JSON schema, the same one
// `nft -j list` prints, so any body the observer produced renders back without loss). A batch is one
// netlink transaction: it applies entirely or not at all. A change re-creates the table inside that
// one transaction (add, delete, add with the new body), so no moment exists without it.
import type { NftTable, Op } from "../types.js";
import { validNftName } from "../../core/plan/nat.js";

const FAMILIES: ReadonlySet<string> = new Set(["ip", "ip6", "inet", "arp", "bridge", "netdev"]);

export class NftRenderError extends Error {
  override name = "NftRenderError";
}

/**
 * The batch goes as nft's argument, not on stdin: `nft -f -` opens /dev/stdin, which fails when stdin
 * is a socket (as execa's may be). One argument is one buffer, so still one transaction.
 */
export const nftArgv = (batch: string): string[] => ["nft", "-j", batch];

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

function tableId(t: NftTable): { family: string; name: string } {
  if (!FAMILIES.has(t.family))
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
export function nftCommands(op: Op): unknown[] {
  const t = (op.op === "delete" ? op.before : op.after) as NftTable;
  if (t.kind !== "nft-table") throw new NftRenderError(`not an nft-table op: ${t.kind}`);
  if (op.op === "delete") return [{ delete: { table: tableId(t) } }];
  if (op.op === "add") return createCommands(t);
  // "add" first makes the delete valid whatever the kernel holds; all three are one transaction.
  const id = tableId(t);
  return [{ add: { table: id } }, { delete: { table: id } }, ...createCommands(t)];
}

/** One JSON batch for a run of nft-table ops; everything is rendered (and validated) before anything runs. */
export function renderNftBatch(ops: readonly Op[]): string {
  return JSON.stringify({ nftables: ops.flatMap(nftCommands) });
}
