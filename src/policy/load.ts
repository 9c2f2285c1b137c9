// Loading a policy: read → YAML with positions → merge → schema (all errors, defaults) → normalize →
// semantic checks. Every problem becomes a Diagnostic with file:line:col; nothing here throws on bad input.
import { hostileText, semanticIssues, type ReadSecret } from "./checks.js";
import { readRegularFile } from "./read-file.js";
import { normalize } from "./normalize.js";
import { schemaIssues } from "./schema.js";
import { parseSources, positionOf, readSources, type SourceFile } from "./source.js";
import type { Diagnostic, LoadResult, Severity, SourceMap } from "./types.js";
import type { DiagnosticCode } from "./catalogue.js";

/** Where backhaul looks for its policy when no path is given. */
export const DEFAULT_POLICY_PATH = "/etc/backhaul/policy.yaml";

interface Issue {
  readonly severity?: Severity;
  readonly code: DiagnosticCode;
  readonly summary: string;
  readonly detail?: string;
  readonly pointer: string;
  readonly atKey?: boolean;
}

function toDiagnostic(sources: SourceMap, issue: Issue): Diagnostic {
  const loc = positionOf(sources, issue.pointer, issue.atKey ? "key" : "value");
  return {
    severity: issue.severity ?? "error",
    code: issue.code,
    summary: issue.summary,
    ...(issue.detail ? { detail: issue.detail } : {}),
    pointer: issue.pointer,
    ...(loc ? { location: { file: loc.file, start: loc.start, end: loc.end } } : {}),
  };
}

const byPlace = (a: Diagnostic, b: Diagnostic): number =>
  (a.location?.file ?? "").localeCompare(b.location?.file ?? "") ||
  (a.location?.start.offset ?? -1) - (b.location?.start.offset ?? -1) ||
  a.summary.localeCompare(b.summary);

/** A passphrase is at most 63 characters: anything much larger is not a passphrase file. */
const PASSPHRASE_FILE_MAX = 4096;
const readSecret: ReadSecret = (path) => readRegularFile(path, PASSPHRASE_FILE_MAX, { secret: true });

/** Load policy texts (the files of one policy, in merge order); files the policy names are read with `read`. */
export function loadPolicyTexts(
  files: readonly SourceFile[],
  read: ReadSecret = readSecret,
): LoadResult & { readonly texts: ReadonlyMap<string, string> } {
  const parsed = parseSources(files);
  const { sources, texts } = parsed;
  const fail = (diagnostics: readonly Diagnostic[]) => ({
    ok: false as const,
    diagnostics: [...diagnostics].sort(byPlace),
    texts,
  });
  if (parsed.diagnostics.some((d) => d.severity === "error")) return fail(parsed.diagnostics);

  const hostile = hostileText(parsed.data).map((i) => toDiagnostic(sources, i));
  // ajv fills defaults into what it validates: give it a copy so the source data stays as written.
  const doc = structuredClone(parsed.data);
  const schema = schemaIssues(doc).map((i) => toDiagnostic(sources, i));
  const early = [...parsed.diagnostics, ...hostile, ...schema];
  if (early.some((d) => d.severity === "error")) return fail(early);

  const policy = normalize(doc);
  const semantic = semanticIssues(doc, policy, read).map((i) => toDiagnostic(sources, i));
  const all = [...early, ...semantic].sort(byPlace);
  if (all.some((d) => d.severity === "error")) return fail(all);
  return { ok: true, policy, sources, diagnostics: all, texts };
}

/** Load the policy at `path`: a YAML file, or a directory of *.yaml/*.yml files merged in name order. */
export async function loadPolicy(
  path: string = DEFAULT_POLICY_PATH,
): Promise<LoadResult & { readonly texts: ReadonlyMap<string, string> }> {
  const read = await readSources(path);
  if (read.diagnostics.length > 0) return { ok: false, diagnostics: read.diagnostics, texts: new Map() };
  return loadPolicyTexts(read.files);
}
