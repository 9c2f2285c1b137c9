// Property tests of the loader: valid policies round-trip; mangled ones give diagnostics, never exceptions.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { loadPolicyTexts } from "../../src/policy/load.js";
import { toDocument } from "../../src/policy/normalize.js";
import { parseDuration } from "../../src/util/units.js";
import { validPolicyDoc } from "./arbitraries.js";

const load = (doc: unknown, file = "policy.yaml") => loadPolicyTexts([{ file, text: stringify(doc) }]);

describe("loader properties", () => {
  it("generated valid policies load, keep what they say, and survive stringify → load unchanged", () => {
    fc.assert(
      fc.property(validPolicyDoc, (doc) => {
        const first = load(doc);
        if (!first.ok) throw new Error(first.diagnostics.map((d) => `${d.pointer}: ${d.summary}`).join("\n"));
        const probes = doc.probes as { interval: string };
        expect(first.policy.probes.interval).toBe(parseDuration(probes.interval));
        expect(first.policy.uplinks.map((u) => u.name)).toEqual(
          (doc.uplinks as { name: string }[]).map((u) => u.name),
        );
        const second = load(toDocument(first.policy));
        if (!second.ok)
          throw new Error(second.diagnostics.map((d) => `${d.pointer}: ${d.summary}`).join("\n"));
        expect(second.policy).toEqual(first.policy);
      }),
      { numRuns: 100 },
    );
  });

  it("every diagnostic of a loaded policy points into the file", () => {
    fc.assert(
      fc.property(validPolicyDoc, (doc) => {
        const r = load(doc);
        for (const d of r.diagnostics) expect(d.location?.file).toBe("policy.yaml");
      }),
      { numRuns: 30 },
    );
  });

  // Mutations at the data level: replace, delete or add at a random place.
  type Path = (string | number)[];
  function paths(v: unknown, prefix: Path = []): Path[] {
    if (Array.isArray(v)) return [prefix, ...v.flatMap((x, i) => paths(x, [...prefix, i]))];
    if (v !== null && typeof v === "object")
      return [prefix, ...Object.entries(v).flatMap(([k, x]) => paths(x, [...prefix, k]))];
    return [prefix];
  }
  function mutate(doc: unknown, path: Path, op: number, value: unknown): unknown {
    const copy = structuredClone(doc) as Record<string | number, unknown>;
    if (path.length === 0) return value;
    let parent = copy;
    for (const seg of path.slice(0, -1)) parent = parent[seg] as Record<string | number, unknown>;
    const last = path[path.length - 1]!;
    if (op === 0) parent[last] = value;
    else if (op === 1 && Array.isArray(parent)) parent.splice(Number(last), 1);
    else if (op === 1) delete parent[last];
    else if (op === 3 && !Array.isArray(parent)) {
      Object.defineProperty(parent, "__proto__", {
        value,
        enumerable: true,
        writable: true,
        configurable: true,
      });
    } else if (Array.isArray(parent)) parent.push(value);
    else parent[`${String(last)}x`] = value;
    return copy;
  }
  const hostile = fc.oneof(
    fc.jsonValue({ maxDepth: 3 }),
    fc.constant({ polluted: 1 }),
    fc.constantFrom(
      "eth0; reboot",
      "$(id)",
      "a\nb",
      "",
      "0",
      "-1s",
      "1e400",
      "../../etc",
      "999999999999999999999gbit",
      "tcp://[::1",
      "100.64.1.1/33",
    ),
  );

  it("mutated valid policies load or give diagnostics, never an exception", () => {
    fc.assert(
      fc.property(
        validPolicyDoc.chain((doc) =>
          fc.tuple(fc.constant(doc), fc.constantFrom(...paths(doc)), fc.nat(3), hostile),
        ),
        ([doc, path, op, value]) => {
          const mutated = mutate(doc, path, op, value);
          const r = loadPolicyTexts([{ file: "m.yaml", text: stringify(mutated) }]);
          expect(r.ok || r.diagnostics.some((d) => d.severity === "error")).toBe(true);
          expect(({} as Record<string, unknown>).polluted).toBeUndefined();
        },
      ),
      { numRuns: 200 },
    );
  });

  it("mangled policy text (characters inserted or deleted) never throws", () => {
    fc.assert(
      fc.property(
        validPolicyDoc.map((d) => stringify(d)),
        fc.array(
          fc.tuple(
            fc.nat(),
            fc.nat(3),
            fc.constantFrom(":", "-", " ", "\n", "[", "{", "&a", "*a", '"', "#", "\t", "!!str"),
          ),
          { maxLength: 4 },
        ),
        (text, edits) => {
          let t = text;
          for (const [at, del, ins] of edits) {
            const i = at % (t.length + 1);
            t = t.slice(0, i) + ins + t.slice(i + del);
          }
          const r = loadPolicyTexts([{ file: "t.yaml", text: t }]);
          expect(r.ok || r.diagnostics.length > 0).toBe(true);
        },
      ),
      { numRuns: 200 },
    );
  });
});
