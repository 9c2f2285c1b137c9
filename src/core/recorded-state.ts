// A node's recorded state: the document `backhaul show --json --all` printed on the node, read back
// into the observed KernelState (and the namespace and state directory it was observed with), so a
// node can be planned or verified against where no kernel is at hand (CI). Pure: text and a file
// name in, the state or diagnostics out. The document is checked against schemas/show.schema.json,
// whose objects are the kinds' own definitions in schemas/plan.schema.json; each kind's driver then
// gives its objects' keys (a key given twice is refused) and the canonical order.
import { Ajv2020, type ErrorObject, type ValidateFunction } from "ajv/dist/2020.js";
import { LineCounter, parseDocument, isNode } from "yaml";
import { canonicalState, describeObject, driver, KIND_NAMES } from "../kinds/registry.js";
import type { KernelState } from "../kinds/types.js";
import type { Diagnostic, Location } from "../policy/types.js";
import type { DiagnosticCode } from "../policy/catalogue.js";
import { escapePointer } from "../policy/pointer.js";
import { PLAN_SCHEMA, SHOW_SCHEMA } from "../policy/document-schemas.js";

/** The show document format this reads (src/cli/show-view.ts writes it). */
export const RECORDED_FORMAT_VERSION = 1;

/** The command that records a node's state for planning and verifying against it. */
export const RECORD_COMMAND = "backhaul show --json --all";

/** At most this many problems are reported: a wrong file can have one per object. */
const MAX_DIAGNOSTICS = 20;

export interface RecordedNode {
  /** The file it was read from (as given). */
  readonly file: string;
  /** The whole observed state, canonical (every kind sorted by its driver's key). */
  readonly observed: KernelState;
  /** The namespace observed (`show --netns`, or the one show ran in); undefined: the host's. */
  readonly netns: string | undefined;
  /** Where backhaul's services were looked for on the node (`show --state-dir`), when recorded. */
  readonly stateDir: string | undefined;
}

export type RecordedStateResult =
  | ({ readonly ok: true } & RecordedNode)
  | { readonly ok: false; readonly diagnostics: readonly Diagnostic[] };

let validator: ValidateFunction | undefined;

function compiled(): ValidateFunction {
  if (validator === undefined) {
    const ajv = new Ajv2020({ allErrors: true, strict: true, strictRequired: false, allowUnionTypes: true });
    ajv.addSchema(PLAN_SCHEMA);
    validator = ajv.compile(SHOW_SCHEMA);
  }
  return validator;
}

/** Pointer segments, decoded (RFC 6901). */
const segmentsOf = (pointer: string): string[] =>
  pointer === ""
    ? []
    : pointer
        .slice(1)
        .split("/")
        .map((s) => s.replace(/~1/g, "/").replace(/~0/g, "~"));

const at = (lc: LineCounter, file: string, start: number, end: number): Location => {
  const s = lc.linePos(start);
  const e = lc.linePos(end);
  return {
    file,
    start: { line: s.line, column: s.col, offset: start },
    end: { line: e.line, column: e.col, offset: end },
  };
};

/**
 * Where each pointer's value is written. Parsed again with positions (JSON is YAML) only when there is
 * something to report, so a good document is read once, by JSON.parse.
 */
function locator(text: string, file: string): (pointer: string) => Location | undefined {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, uniqueKeys: false });
  return (pointer) => {
    let segs = segmentsOf(pointer);
    while (true) {
      const node: unknown = segs.length === 0 ? doc.contents : doc.getIn(segs, true);
      const range = isNode(node) ? node.range : undefined;
      if (range) return at(lc, file, range[0], range[1]);
      if (segs.length === 0) return undefined;
      segs = segs.slice(0, -1);
    }
  };
}

/** Line starts of a text, for positions of offsets outside a parse. */
function linesOf(text: string): LineCounter {
  const lc = new LineCounter();
  lc.addNewLine(0);
  for (let i = text.indexOf("\n"); i !== -1; i = text.indexOf("\n", i + 1)) lc.addNewLine(i + 1);
  return lc;
}

/** Where a text that is not JSON goes wrong, when JSON.parse does not say: the YAML parser's first error. */
function syntaxOffset(text: string): number {
  const doc = parseDocument(text, { uniqueKeys: false });
  return doc.errors[0]?.pos[0] ?? (text.trim() === "" ? 0 : text.length);
}

interface Problem {
  readonly code: DiagnosticCode;
  readonly pointer: string;
  readonly summary: string;
  readonly detail: string;
}

function refuse(text: string, file: string, problems: readonly Problem[]): RecordedStateResult {
  const locate = locator(text, file);
  const shown = problems.slice(0, MAX_DIAGNOSTICS);
  const more = problems.length - shown.length;
  const diagnostics = shown.map((p, i): Diagnostic => {
    const location = locate(p.pointer) ?? at(linesOf(""), file, 0, 0);
    const tail = i === shown.length - 1 && more > 0 ? ` (and ${more} more problems)` : "";
    return {
      severity: "error",
      code: p.code,
      summary: `recorded node state: ${p.summary}${tail}`,
      detail: p.detail,
      pointer: p.pointer,
      location,
    };
  });
  return { ok: false, diagnostics };
}

function schemaProblem(e: ErrorObject): Problem {
  const extra =
    e.keyword === "additionalProperties" ? (e.params as { additionalProperty: string }) : undefined;
  const missing = e.keyword === "required" ? (e.params as { missingProperty: string }) : undefined;
  const pointer = extra ? `${e.instancePath}/${escapePointer(extra.additionalProperty)}` : e.instancePath;
  const kindList = /^\/state\/[^/]+$/.test(e.instancePath);
  const summary = extra
    ? `unknown field "${extra.additionalProperty}"`
    : missing
      ? `missing field "${missing.missingProperty}"`
      : `${e.message ?? "invalid"}`;
  const inState = e.instancePath.startsWith("/state/");
  return {
    code: inState && !kindList ? "state-object" : "state-document",
    pointer,
    summary: `${pointer === "" ? "/" : pointer}: ${summary}`,
    detail: inState
      ? "objects are as `show --json` prints them (schemas/plan.schema.json, the kinds' $defs); record the node again rather than editing the file"
      : `a recorded node state is the output of \`${RECORD_COMMAND}\` (schemas/show.schema.json)`,
  };
}

/** Read a recorded node state (`backhaul show --json --all`) from its text. Never throws. */
export function loadRecordedState(text: string, file: string): RecordedStateResult {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    // V8 says where only for some errors ("... at position N"), and quotes the text for others.
    const message = (e as Error).message.replace(/, (?:\.\.\.)?".*" is not valid JSON$/s, "");
    const m = /position (\d+)/.exec(message);
    const offset = m !== null ? Math.min(Number(m[1]), text.length) : syntaxOffset(text);
    const lc = linesOf(text);
    return {
      ok: false,
      diagnostics: [
        {
          severity: "error",
          code: "state-syntax",
          summary: `recorded node state: not JSON: ${message}`,
          detail: `record the node's state with \`${RECORD_COMMAND} > FILE\``,
          pointer: "",
          location: at(lc, file, offset, offset),
        },
      ],
    };
  }
  const validate = compiled();
  if (!validate(data)) {
    return refuse(text, file, (validate.errors ?? []).map(schemaProblem));
  }
  const doc = data as {
    readonly netns: string | null;
    readonly all: boolean;
    readonly state_dir?: string;
    readonly state: KernelState;
  };
  if (!doc.all) {
    return refuse(text, file, [
      {
        code: "state-document",
        pointer: "/all",
        summary: "recorded without --all: it holds only what backhaul manages, not the whole node",
        detail: `planning needs everything the node has (the kernel's default rules, every link): record it with \`${RECORD_COMMAND}\``,
      },
    ]);
  }
  // One object twice is no observation (a key alone may repeat: IPv6 keeps fe80::/64 on every link).
  const problems: Problem[] = [];
  for (const k of KIND_NAMES) {
    const { key, equal } = driver(k);
    const seen = new Map<string, number[]>();
    doc.state[k].forEach((o, i) => {
      const kk = key(o);
      const same = seen.get(kk) ?? [];
      const first = same.find((j) => equal(doc.state[k][j]!, o));
      if (first !== undefined)
        problems.push({
          code: "state-object",
          pointer: `/state/${escapePointer(k)}/${i}`,
          summary: `${k} ${JSON.stringify(describeObject(o))} is given twice (also at /state/${k}/${first})`,
          detail: "observation lists each object once; record the node again rather than editing the file",
        });
      seen.set(kk, [...same, i]);
    });
  }
  if (problems.length > 0) return refuse(text, file, problems);
  return {
    ok: true,
    file,
    observed: canonicalState(doc.state),
    netns: doc.netns ?? undefined,
    stateDir: doc.state_dir,
  };
}
