// The docs generated from the schema stay in step with it, and every key is described.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { renderPolicyDocs } from "../../scripts/gen-policy-docs.js";
import { CATALOGUE } from "../../src/policy/catalogue.js";
import { POLICY_SCHEMA, type JsonSchema } from "../../src/policy/schema.js";

const read = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), "utf8");

/** Every (pointer, key schema) pair under `properties`, following $refs into $defs. */
function keys(s: JsonSchema, at: string, seen = new Set<string>()): [string, JsonSchema][] {
  const defs = POLICY_SCHEMA.$defs as Record<string, JsonSchema>;
  const ref = typeof s.$ref === "string" ? s.$ref.replace("#/$defs/", "") : undefined;
  const target = ref ? defs[ref]! : undefined;
  if (ref && seen.has(ref)) return [];
  const next = ref ? new Set([...seen, ref]) : seen;
  const properties: Record<string, JsonSchema> = { ...(target?.properties ?? {}) };
  for (const [k, v] of Object.entries(s.properties ?? {})) properties[k] = { ...(properties[k] ?? {}), ...v };
  const merged = { ...(target ?? {}), ...s, properties } as JsonSchema;
  const children = [
    ...Object.entries(merged.properties ?? {}).map(([k, v]) => [`${at}/${k}`, v] as [string, JsonSchema]),
    ...(typeof merged.additionalProperties === "object"
      ? [[`${at}/*`, merged.additionalProperties as JsonSchema] as [string, JsonSchema]]
      : []),
    ...(merged.items ? [[`${at}/[]`, merged.items as JsonSchema] as [string, JsonSchema]] : []),
    ...(merged.else ? [[`${at}/else`, merged.else as JsonSchema] as [string, JsonSchema]] : []),
  ];
  return children.flatMap(([p, c]) => {
    const own = typeof c.$ref === "string" ? { ...defs[c.$ref.replace("#/$defs/", "")], ...c } : c;
    const isKey = !p.endsWith("/[]") && !p.endsWith("/else");
    return [...(isKey ? [[p, own] as [string, JsonSchema]] : []), ...keys(c, p, next)];
  });
}

describe("policy docs", () => {
  it("docs/policy.md is what scripts/gen-policy-docs.ts generates (run npm run docs:policy)", () => {
    expect(read("docs/policy.md")).toBe(renderPolicyDocs());
  });

  it("every key of the schema has a description", () => {
    const missing = keys(POLICY_SCHEMA, "")
      .filter(([, s]) => typeof s.description !== "string" || s.description.length === 0)
      .map(([p]) => p);
    expect(missing).toEqual([]);
  });

  it("docs/validate.md lists every code of the error catalogue", () => {
    const page = read("docs/validate.md");
    const absent = Object.keys(CATALOGUE).filter((code) => !page.includes(`\`${code}\``));
    expect(absent).toEqual([]);
  });
});
