// The policy schema (schemas/policy.schema.json) compiled once with ajv, its custom formats, and the
// translation of ajv's errors into diagnostics people can act on.
import { readFileSync } from "node:fs";
import { Ajv2020, type ErrorObject, type ValidateFunction } from "ajv/dist/2020.js";
import { parseDuration, parsePercent, parseRate, parseSize, UnitError } from "../util/units.js";
import {
  absPathProblem,
  countryCodeProblem,
  socketPathProblem,
  statePathProblem,
  cidrProblem,
  gatewayProblem,
  hostPortProblem,
  interfaceGlobProblem,
  interfaceNameProblem,
  ipProblem,
  probeTargetProblem,
  webhookUrlProblem,
} from "./values.js";
import { didYouMean, editDistance } from "./suggest.js";
import { escapePointer } from "./pointer.js";
import type { DiagnosticCode } from "./catalogue.js";

export type JsonSchema = {
  readonly [key: string]: unknown;
  readonly description?: string;
  readonly properties?: { readonly [key: string]: JsonSchema };
};

export const POLICY_SCHEMA = JSON.parse(
  readFileSync(new URL("../../schemas/policy.schema.json", import.meta.url), "utf8"),
) as JsonSchema;

const unitProblem =
  (parse: (s: string) => number) =>
  (s: string): string | undefined => {
    try {
      parse(s);
      return undefined;
    } catch (e) {
      if (e instanceof UnitError) return e.message;
      throw e;
    }
  };

/** Each custom format: the problem with a value, or undefined when it is fine. */
export const FORMATS: Readonly<Record<string, (s: string) => string | undefined>> = {
  duration: unitProblem(parseDuration),
  "duration-or-never": (s) => (s === "never" ? undefined : unitProblem(parseDuration)(s)),
  rate: unitProblem(parseRate),
  "rate-or-percent": (s) =>
    s.trim().endsWith("%") ? unitProblem(parsePercent)(s) : unitProblem(parseRate)(s),
  size: unitProblem(parseSize),
  percent: unitProblem(parsePercent),
  "interface-name": interfaceNameProblem,
  "interface-glob": interfaceGlobProblem,
  "ip-address": ipProblem,
  cidr: cidrProblem,
  gateway: gatewayProblem,
  "probe-target": probeTargetProblem,
  "abs-path": absPathProblem,
  "state-path": statePathProblem,
  "socket-path": (s) => socketPathProblem(s),
  "country-code": countryCodeProblem,
  "host-port": hostPortProblem,
  "webhook-url": webhookUrlProblem,
};

const EXAMPLES: Readonly<Record<string, string>> = {
  duration: "a duration such as 250ms, 5s or 1h30m",
  "duration-or-never": 'a duration such as 24h, or "never"',
  rate: "a rate such as 512kbit, 10mbit or 1gbit",
  "rate-or-percent": "a rate such as 10mbit, or a share such as 25%",
  size: "a size such as 500MB or 2GiB",
  percent: "a percentage such as 10%",
  "interface-name": "an interface name such as eth0",
  "interface-glob": "a name pattern such as enx*",
  "ip-address": "an IP address",
  cidr: "an address with prefix length such as 100.64.1.2/24",
  gateway: '"auto" or an IP address',
  "probe-target": "a probe target such as tcp://198.51.100.10:443",
  "abs-path": "an absolute path",
  "state-path": "an absolute path such as /var/lib/backhaul",
  "socket-path": "a socket path such as /run/backhaul/status.sock",
  "country-code": "an ISO 3166-1 country code such as DE",
  "host-port": "host:port such as 127.0.0.1:9417",
  "webhook-url": "an http:// or https:// URL such as https://alerts.example/backhaul",
};

/** Messages for the schema's patterns, which ajv would only quote. */
const PATTERNS: Readonly<Record<string, string>> = {
  "^[a-z][a-z0-9-]{0,31}$":
    "lower-case letters, digits and '-', starting with a letter, at most 32 characters",
  "^[a-z][a-z0-9_]{0,31}$":
    "lower-case letters, digits and '_', starting with a letter, at most 32 characters",
};

/** Where each key of the language lives ("interval" → ["probes"]), to redirect a key written at the wrong level. */
function keyHomes(): Map<string, string[]> {
  const defs = (POLICY_SCHEMA.$defs ?? {}) as Record<string, JsonSchema>;
  const homes = new Map<string, string[]>();
  const walk = (s: JsonSchema, at: string, seen: ReadonlySet<string>): void => {
    const ref = typeof s.$ref === "string" ? s.$ref.replace("#/$defs/", "") : undefined;
    if (ref && seen.has(ref)) return;
    const target = ref ? defs[ref] : undefined;
    const next = ref ? new Set([...seen, ref]) : seen;
    if (target) walk(target, at, next);
    // Named children of a map that takes any name (QoS classes) are shown as the map's "<name>".
    const anyName = typeof s.additionalProperties === "object";
    for (const [k, v] of Object.entries(s.properties ?? {})) {
      homes.set(k, [...(homes.get(k) ?? []), at === "" ? "the top level" : at]);
      walk(v, anyName ? `${at}.<name>` : at === "" ? k : `${at}.${k}`, next);
    }
    if (anyName) walk(s.additionalProperties as JsonSchema, `${at}.<name>`, next);
    if (s.items) walk(s.items as JsonSchema, `${at}[]`, next);
    if (s.else) walk(s.else as JsonSchema, `${at}[]`, next);
  };
  walk(POLICY_SCHEMA, "", new Set());
  for (const [k, v] of homes) homes.set(k, [...new Set(v)]);
  return homes;
}

const KEY_HOMES = keyHomes();

let compiled: ValidateFunction | undefined;

/** The compiled validator. It fills in defaults: call it on a copy. */
export function policyValidator(): ValidateFunction {
  if (!compiled) {
    const ajv = new Ajv2020({
      allErrors: true,
      useDefaults: true,
      verbose: true,
      strict: true,
      strictTypes: false,
    });
    for (const [name, problem] of Object.entries(FORMATS)) {
      ajv.addFormat(name, { type: "string", validate: (s: string) => problem(s) === undefined });
    }
    compiled = ajv.compile(POLICY_SCHEMA);
  }
  return compiled;
}

export interface SchemaIssue {
  readonly code: DiagnosticCode;
  readonly summary: string;
  readonly detail?: string;
  readonly pointer: string;
  /** Point at the key rather than the value (unknown keys). */
  readonly atKey: boolean;
}

function typeName(v: unknown): string {
  if (v === null) return "nothing (null)";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "object") return "a mapping";
  if (typeof v === "string") return `the string ${JSON.stringify(v)}`;
  return `${typeof v} ${JSON.stringify(v)}`;
}

function expectedType(schema: JsonSchema, type: unknown): string {
  const format = typeof schema.format === "string" ? EXAMPLES[schema.format] : undefined;
  if (format) return format;
  switch (type) {
    case "object":
      return "a mapping";
    case "array":
      return "a list";
    case "integer":
      return "a whole number";
    default:
      return Array.isArray(type) ? type.join(" or ") : `a ${String(type)}`;
  }
}

/** One ajv error → one issue, or undefined for errors that only repeat another (if/then wrappers). */
function translate(e: ErrorObject): SchemaIssue | undefined {
  const parent = (e.parentSchema ?? {}) as JsonSchema;
  const at = e.instancePath;
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case "if":
    case "anyOf":
    case "oneOf":
      return undefined;
    case "required": {
      const key = String(p.missingProperty);
      const d = parent.properties?.[key]?.description;
      return {
        code: "missing-key",
        summary: `missing required key "${key}"`,
        ...(d ? { detail: `${key}: ${d}` } : {}),
        pointer: at,
        atKey: false,
      };
    }
    case "additionalProperties": {
      const key = String(p.additionalProperty);
      const known = Object.keys(parent.properties ?? {});
      // A key of another section written here beats a loose spelling match ("rate" is not "name").
      const elsewhere = KEY_HOMES.get(key);
      const close = didYouMean(key, known);
      const guess =
        close && (!elsewhere || editDistance(key.toLowerCase(), close.toLowerCase()) <= 1)
          ? close
          : undefined;
      if (key === "<<") {
        return {
          code: "unknown-key",
          summary: 'YAML merge keys ("<<") are not part of YAML 1.2; write the keys out',
          pointer: `${at}/${escapePointer(key)}`,
          atKey: true,
        };
      }
      const hint = guess
        ? `; did you mean "${guess}"?`
        : elsewhere
          ? `; it belongs under ${elsewhere.join(" or ")}`
          : "";
      return {
        code: "unknown-key",
        summary: `unknown key "${key}"${hint}`,
        detail: known.length > 0 ? `known keys here: ${known.join(", ")}` : "no other keys are allowed here",
        pointer: `${at}/${escapePointer(key)}`,
        atKey: true,
      };
    }
    case "propertyNames":
      return undefined;
    case "type":
      // The mapping form of a probe target: the text form is just as welcome.
      if (e.schemaPath.includes("/else/") && e.instancePath.includes("/targets/") && p.type === "object") {
        return {
          code: "wrong-type",
          summary: `expected a probe target such as tcp://198.51.100.10:443, or a mapping with url and expect; got ${typeName(e.data)}`,
          pointer: at,
          atKey: false,
        };
      }
      return {
        code: "wrong-type",
        summary: `expected ${expectedType(parent, p.type)}, got ${typeName(e.data)}`,
        ...(parent.description ? { detail: parent.description } : {}),
        pointer: at,
        atKey: false,
      };
    case "enum": {
      const allowed = (p.allowedValues as unknown[]).map(String);
      const guess = typeof e.data === "string" ? didYouMean(e.data, allowed) : undefined;
      return {
        code: "not-allowed",
        summary: `${typeName(e.data)} is not allowed here; expected one of ${allowed.join(", ")}${guess ? ` (did you mean "${guess}"?)` : ""}`,
        ...(parent.description ? { detail: parent.description } : {}),
        pointer: at,
        atKey: false,
      };
    }
    case "const":
      return {
        code: "not-allowed",
        summary: `expected ${JSON.stringify(p.allowedValue)}, got ${typeName(e.data)}`,
        pointer: at,
        atKey: false,
      };
    case "format": {
      const format = String(p.format);
      const problem = typeof e.data === "string" ? FORMATS[format]?.(e.data) : undefined;
      return {
        code: "bad-value",
        summary: problem ?? `expected ${EXAMPLES[format] ?? format}`,
        ...(parent.description ? { detail: parent.description } : {}),
        pointer: at,
        atKey: false,
      };
    }
    case "pattern": {
      const pattern = String(p.pattern);
      // A pattern on a key name (propertyNames) reports the key itself.
      const keyName = e.propertyName;
      const what = PATTERNS[pattern] ?? `text matching ${pattern}`;
      return keyName !== undefined
        ? {
            code: "bad-name",
            summary: `the name "${keyName}" is not allowed: expected ${what}`,
            pointer: `${at}/${escapePointer(keyName)}`,
            atKey: true,
          }
        : {
            code: "bad-value",
            summary: `${typeName(e.data)} is not allowed: expected ${what}`,
            ...(parent.description ? { detail: parent.description } : {}),
            pointer: at,
            atKey: false,
          };
    }
    case "minimum":
    case "maximum":
    case "exclusiveMinimum":
    case "exclusiveMaximum":
      return {
        code: "out-of-range",
        summary: `${String(e.data)} is out of range: must be ${String(p.comparison)} ${String(p.limit)}`,
        ...(parent.description ? { detail: parent.description } : {}),
        pointer: at,
        atKey: false,
      };
    case "minItems":
      return {
        code: "too-few",
        summary: `needs at least ${String(p.limit)} item(s)`,
        pointer: at,
        atKey: false,
      };
    case "maxItems":
      return {
        code: "too-many",
        summary: `allows at most ${String(p.limit)} items`,
        pointer: at,
        atKey: false,
      };
    case "minProperties":
      return {
        code: "too-few",
        summary: `needs at least ${String(p.limit)} key(s)`,
        pointer: at,
        atKey: false,
      };
    case "maxProperties":
      return {
        code: "too-many",
        summary: `allows at most ${String(p.limit)} keys`,
        pointer: at,
        atKey: false,
      };
    case "maxLength":
      return {
        code: "too-long",
        summary: `is longer than ${String(p.limit)} characters`,
        pointer: at,
        atKey: false,
      };
    case "uniqueItems":
      return {
        code: "duplicate-item",
        summary: `items ${String(p.j)} and ${String(p.i)} are the same`,
        pointer: `${at}/${String(p.i)}`,
        atKey: false,
      };
    default:
      return { code: "schema", summary: e.message ?? e.keyword, pointer: at, atKey: false };
  }
}

/** Validate (filling in defaults in `data`) and return the problems. */
export function schemaIssues(data: unknown): SchemaIssue[] {
  const validate = policyValidator();
  if (validate(data)) return [];
  const out: SchemaIssue[] = [];
  const seen = new Set<string>();
  for (const e of validate.errors ?? []) {
    const issue = translate(e);
    if (!issue) continue;
    const key = `${issue.pointer} ${issue.summary}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(issue);
  }
  return out;
}
