// Generates docs/policy.md from schemas/policy.schema.json (`npm run docs:policy`).
// test/policy/docs.test.ts fails when the committed page differs from what this prints.
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { POLICY_SCHEMA, type JsonSchema } from "../src/policy/schema.js";

const DEFS = (POLICY_SCHEMA.$defs ?? {}) as Record<string, JsonSchema>;

/** Follow a local $ref, keeping the referring schema's own keywords (description, default) on top. */
function resolve(s: JsonSchema): JsonSchema {
  const ref = s.$ref;
  if (typeof ref !== "string") return s;
  const target = resolve(DEFS[ref.replace("#/$defs/", "")] ?? {});
  const { $ref: _ref, ...rest } = s;
  // Properties given next to a $ref refine the referenced ones (the QoS classes add defaults).
  const properties: Record<string, JsonSchema> = { ...(target.properties ?? {}) };
  for (const [k, v] of Object.entries(rest.properties ?? {}))
    properties[k] = { ...(properties[k] ?? {}), ...v };
  return { ...target, ...rest, ...(Object.keys(properties).length > 0 ? { properties } : {}) };
}

const FORMAT_NAMES: Record<string, string> = {
  duration: "duration",
  "duration-or-never": "duration or `never`",
  rate: "rate",
  "rate-or-percent": "rate or percentage",
  size: "size",
  percent: "percentage",
  "interface-name": "interface name",
  "interface-glob": "name pattern",
  "ip-address": "IP address",
  cidr: "address/prefix",
  gateway: "`auto` or IP address",
  "probe-target": "probe target",
  "abs-path": "absolute path",
  "host-port": "host:port",
};

function typeOf(s: JsonSchema): string {
  if (s.if !== undefined) return "probe target: text, or mapping";
  if (typeof s.format === "string") return FORMAT_NAMES[s.format] ?? s.format;
  if (Array.isArray(s.enum)) return s.enum.map((v) => `\`${String(v)}\``).join(" | ");
  if (s.const !== undefined) return `\`${JSON.stringify(s.const)}\``;
  if (s.type === "array") {
    const items = resolve((s.items ?? {}) as JsonSchema);
    return items.type === "object" ? "list of mappings" : `list of: ${typeOf(items)}`;
  }
  if (s.type === "object") return "mapping";
  if (s.type === "integer") return "integer";
  return String(s.type ?? "any");
}

function limits(s: JsonSchema): string {
  const parts: string[] = [];
  if (typeof s.minimum === "number" && typeof s.maximum === "number") parts.push(`${s.minimum}–${s.maximum}`);
  else if (typeof s.minimum === "number") parts.push(`≥ ${s.minimum}`);
  if (typeof s.minItems === "number" && s.minItems > 0) parts.push(`at least ${s.minItems}`);
  if (typeof s.maxItems === "number") parts.push(`at most ${s.maxItems}`);
  return parts.join(", ");
}

function defaultOf(s: JsonSchema): string {
  if (s.default === undefined) return "";
  if (typeof s.default === "object" && s.default !== null && Object.keys(s.default).length === 0) return "";
  if (Array.isArray(s.default) && s.default.length === 0) return "`[]`";
  const text = typeof s.default === "string" ? s.default : JSON.stringify(s.default);
  return `\`${text}\``;
}

const cell = (text: string): string => text.replace(/\|/g, "\\|").replace(/\n/g, " ");

interface Section {
  readonly path: string;
  readonly schema: JsonSchema;
}

/** One section per mapping: a table of its keys; nested mappings get their own sections. */
function render(sections: Section[], out: string[]): void {
  for (const { path, schema } of sections) {
    const s = resolve(schema);
    const props = Object.entries(s.properties ?? {});
    const required = new Set((s.required ?? []) as string[]);
    out.push(`## \`${path}\``, "");
    if (s.description && path !== "policy") out.push(s.description, "");
    const nested: Section[] = [];
    if (props.length > 0) {
      out.push("| key | type | default | description |", "| --- | --- | --- | --- |");
      for (const [key, raw] of props) {
        const p = resolve(raw);
        const items = p.type === "array" ? resolve((p.items ?? {}) as JsonSchema) : undefined;
        const childPath = `${path}.${key}`;
        const hasChildren =
          p.type === "object" && (p.properties !== undefined || typeof p.additionalProperties === "object");
        if (hasChildren) nested.push({ path: childPath, schema: p });
        if (items?.type === "object") nested.push({ path: `${childPath}[]`, schema: items });
        // A list item that is text or a mapping (probe targets): document the mapping form.
        const mappingForm = items?.else as JsonSchema | undefined;
        if (mappingForm)
          nested.push({
            path: `${childPath}[]`,
            schema: { ...mappingForm, description: items?.description },
          });
        const lim = limits(p);
        const linked = hasChildren || items?.type === "object" || items?.else !== undefined;
        const desc = [
          p.description ?? "",
          lim ? `(${lim})` : "",
          linked
            ? `See [\`${childPath}${items ? "[]" : ""}\`](#${anchor(`${childPath}${items ? "[]" : ""}`)}).`
            : "",
        ]
          .filter(Boolean)
          .join(" ");
        out.push(
          `| \`${key}\`${required.has(key) ? " (required)" : ""} | ${cell(typeOf(p))} | ${cell(defaultOf(p))} | ${cell(desc)} |`,
        );
      }
      out.push("");
    }
    const extra = s.additionalProperties;
    if (typeof extra === "object" && extra !== null) {
      const e = resolve(extra as JsonSchema);
      out.push(`Other keys: ${e.description ?? "see below"}`, "");
      nested.push({ path: `${path}.<name>`, schema: e });
    }
    render(nested, out);
  }
}

function anchor(path: string): string {
  return path.toLowerCase().replace(/[^a-z0-9 -]/g, "");
}

export function renderPolicyDocs(): string {
  const out: string[] = [
    "<!-- Generated from schemas/policy.schema.json by scripts/gen-policy-docs.ts (npm run docs:policy). Do not edit. -->",
    "",
    "# Policy reference",
    "",
    POLICY_SCHEMA.description ?? "",
    "",
    "A policy is one YAML file, or a directory of `*.yaml`/`*.yml` files merged in name order (mappings merge key",
    "by key; any other value may be defined in one file only). Check it with `backhaul validate` (see",
    "[validate.md](validate.md)); `backhaul validate --print-effective` prints it with every default filled in.",
    "",
    "## Units",
    "",
    "| kind | examples | units |",
    "| --- | --- | --- |",
    "| duration | `250ms`, `5s`, `1h30m`, `1.5s` | `ms`, `s`, `m`, `h`, `d`; parts from larger to smaller |",
    "| rate | `512kbit`, `10mbit`, `1gbit` | as tc: `bit`, `kbit`, `mbit`, `gbit`, `tbit` (×1000), `kibit`… (×1024); `bps`, `kbps`… are bytes per second |",
    "| size | `500MB`, `2GiB` | `B`, `KB`, `MB`, `GB`, `TB` (×1000), `KiB`, `MiB`, `GiB`, `TiB` (×1024) |",
    "| percentage | `10%`, `2.5%` | 0–100, at most 3 decimals |",
    "",
  ];
  render([{ path: "policy", schema: POLICY_SCHEMA }], out);
  return `${out.join("\n").trimEnd()}\n`;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const target = new URL("../docs/policy.md", import.meta.url);
  writeFileSync(target, renderPolicyDocs());
  process.stdout.write(`wrote ${fileURLToPath(target)}\n`);
}
