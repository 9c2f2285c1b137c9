// Observers never throw on unexpected input: they are fed mutated copies of real outputs captured from
// this machine's namespaces (test/fixtures/observe), and whatever they return must still be well-typed.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseObservation, type RawObservation } from "../../src/effects/observe.js";
import { parseAddresses } from "../../src/kinds/ip/address.js";
import { parseLinks } from "../../src/kinds/ip/link.js";
import { parseRoutes } from "../../src/kinds/ip/route.js";
import { parseRules } from "../../src/kinds/ip/rule.js";
import { jsonSegments, splitBatchOutput } from "../../src/kinds/json.js";
import { parseNftTable } from "../../src/kinds/nft/table.js";
import { numberDuplicateMatches, parseFilters, parseQdiscs } from "../../src/kinds/tc/parse.js";
import type { KernelObject, KernelState } from "../../src/kinds/types.js";

const raw = JSON.parse(
  readFileSync(fileURLToPath(new URL("../fixtures/observe/lab-node.raw.json", import.meta.url)), "utf8"),
) as RawObservation;

const ipArrays = jsonSegments(splitBatchOutput(raw.ip?.out ?? ""));
const inputs = {
  address: ipArrays[0],
  rule: ipArrays[1],
  route: ipArrays[2],
  qdisc: jsonSegments(splitBatchOutput(raw.qdiscs ?? ""))[0],
  filter: jsonSegments(splitBatchOutput(numberDuplicateMatches(raw.tree?.out ?? ""))),
  nft: jsonSegments(splitBatchOutput(raw.nft ?? ""))[0],
};

type Mutation = { at: number; op: "delete" | "replace" | "add"; value: unknown; key: string };

/** Every (container, key) pair in a JSON value, in a fixed order. */
function slots(v: unknown, out: [Record<string, unknown> | unknown[], string | number][] = []) {
  if (Array.isArray(v)) {
    v.forEach((x, i) => {
      out.push([v, i]);
      slots(x, out);
    });
  } else if (v !== null && typeof v === "object") {
    for (const [k, x] of Object.entries(v)) {
      out.push([v as Record<string, unknown>, k]);
      slots(x, out);
    }
  }
  return out;
}

function mutate(value: unknown, muts: readonly Mutation[]): unknown {
  const copy = structuredClone(value);
  for (const m of muts) {
    const all = slots(copy);
    if (all.length === 0) break;
    const [c, k] = all[m.at % all.length] as [Record<string, unknown>, string];
    if (m.op === "delete") {
      if (Array.isArray(c)) c.splice(Number(k), 1);
      else delete c[k];
    } else if (m.op === "replace") c[k] = structuredClone(m.value);
    else if (!Array.isArray(c)) c[m.key] = structuredClone(m.value);
  }
  return copy;
}

const mutations = fc.array(
  fc.record({
    at: fc.nat(),
    op: fc.constantFrom("delete", "replace", "add"),
    value: fc.jsonValue({ maxDepth: 2 }),
    key: fc.string({ maxLength: 6 }),
  }),
  { minLength: 1, maxLength: 8 },
) as fc.Arbitrary<Mutation[]>;

const isPrefix = (p: unknown): boolean => typeof p === "string" && /^[0-9a-f.:]+\/\d{1,3}$/.test(p);
const isInt = (n: unknown): boolean => typeof n === "number" && Number.isInteger(n);

/** The invariants every normalized object holds whatever the input was. */
function wellTyped(o: KernelObject): boolean {
  switch (o.kind) {
    case "link":
      return typeof o.name === "string" && isInt(o.index) && isInt(o.mtu) && typeof o.carrier === "boolean";
    case "address":
      return isPrefix(o.local) && (o.family === 4 || o.family === 6) && typeof o.dev === "string";
    case "rule":
      return isInt(o.priority) && isInt(o.protocol) && (o.from === undefined || isPrefix(o.from));
    case "route":
      return (
        isPrefix(o.dst) &&
        isInt(o.table) &&
        isInt(o.metric) &&
        isInt(o.protocol) &&
        (o.nexthops ?? []).every((n) => typeof n.dev === "string" && isInt(n.weight))
      );
    case "qdisc":
      return typeof o.dev === "string" && typeof o.qdiscKind === "string";
    case "filter":
      return (
        isInt(o.pref) && o.matches.every((m) => typeof m.field === "string" && typeof m.value === "string")
      );
    case "nft-table":
      return typeof o.body === "string";
    default:
      return true;
  }
}

describe("observers on mutated real outputs", () => {
  it("never throw and return only well-typed objects", () => {
    fc.assert(
      fc.property(mutations, (muts) => {
        const results: KernelObject[] = [
          ...parseLinks(mutate(inputs.address, muts), new Map()),
          ...parseAddresses(mutate(inputs.address, muts)),
          ...parseRules(mutate(inputs.rule, muts), 4),
          ...parseRoutes(mutate(inputs.route, muts)),
          ...parseQdiscs(mutate(inputs.qdisc, muts)),
          ...inputs.filter.flatMap((f) => parseFilters(mutate(f, muts), "eth0")),
        ];
        const t = parseNftTable(mutate(inputs.nft, muts), "inet", "backhaul");
        if (t !== undefined) results.push(t);
        expect(results.filter((o) => !wellTyped(o))).toEqual([]);
      }),
      { numRuns: 300 },
    );
  });

  it("survive truncated and corrupted text", () => {
    const fields = ["ip", "rules6", "facts", "qdiscs", "tree", "nft"] as const;
    fc.assert(
      fc.property(fc.constantFrom(...fields), fc.nat(), fc.string({ maxLength: 12 }), (field, at, junk) => {
        const text = (v: string): string =>
          v.slice(0, at % (v.length + 1)) + junk + v.slice((at % (v.length + 1)) + junk.length);
        const r = raw as unknown as Record<string, unknown>;
        const v = r[field];
        const changed =
          typeof v === "string"
            ? text(v)
            : v !== null && typeof v === "object" && "out" in v
              ? { ...v, out: text(String((v as { out: string }).out)) }
              : v;
        const s: KernelState = parseObservation({ ...raw, [field]: changed } as RawObservation);
        expect(
          Object.values(s)
            .flat()
            .every((o) => wellTyped(o as KernelObject)),
        ).toBe(true);
      }),
      { numRuns: 300 },
    );
  });
});
