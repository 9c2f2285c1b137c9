// Diagnostics rendered for people (file:line:col, the line, a caret), for machines (a versioned JSON
// document in the manner of `terraform validate -json`), for GitHub Actions annotations, and as SARIF.
import { isAbsolute, sep } from "node:path";
import { pathToFileURL } from "node:url";
import { CATALOGUE } from "../policy/catalogue.js";
import type { Diagnostic, Location } from "../policy/types.js";
import { where } from "../policy/diagnostic-line.js";

/** Control characters from a hostile policy (quoted in messages, or on the source line) are shown
 * escaped, so they cannot move the cursor or recolor the terminal of whoever reads the report. */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROLS = /[\u0000-\u001f\u007f-\u009f]/g;
const visible = (s: string): string =>
  s.replace(CONTROLS, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);

/** Minor versions only add fields. */
export const JSON_FORMAT_VERSION = "1.0";

export type Texts = ReadonlyMap<string, string>;

function lineText(texts: Texts, loc: Location): string | undefined {
  return texts.get(loc.file)?.split(/\r?\n/)[loc.start.line - 1];
}

/** The longest source excerpt and summary shown: a huge value must not flood a terminal or a CI log. */
export const EXCERPT_MAX = 120;
export const SUMMARY_MAX = 400;

/**
 * A window of at most `max` characters of `line` around the highlighted columns (1-based `column`,
 * `width` characters), with "…" where it was cut; the highlight's column and width within the window.
 */
export function excerpt(
  line: string,
  column: number,
  width: number,
  max = EXCERPT_MAX,
): { readonly text: string; readonly column: number; readonly width: number } {
  if (line.length <= max) return { text: line, column, width };
  const start = Math.max(0, Math.min(column - 1 - 20, line.length - max));
  const end = Math.min(line.length, start + max);
  const text = `${start > 0 ? "…" : ""}${line.slice(start, end)}${end < line.length ? "…" : ""}`;
  const col = column - start + (start > 0 ? 1 : 0);
  return { text, column: col, width: Math.max(1, Math.min(width, end - (column - 1))) };
}

/** A summary cut to SUMMARY_MAX characters, saying how much was left out. */
export function boundedSummary(summary: string): string {
  if (summary.length <= SUMMARY_MAX) return summary;
  return `${summary.slice(0, SUMMARY_MAX)}… (${summary.length - SUMMARY_MAX} more characters)`;
}

const paint = (on: boolean, code: string) => (s: string) => (on ? `\u001b[${code}m${s}\u001b[0m` : s);

/** `file:line:col: error: message (at /pointer)`, then the source line with a caret under the place. */
export function formatHuman(diagnostics: readonly Diagnostic[], texts: Texts, color: boolean): string {
  const bold = paint(color, "1");
  const red = paint(color, "1;31");
  const yellow = paint(color, "1;33");
  const dim = paint(color, "2");
  const out: string[] = [];
  for (const d of diagnostics) {
    const sev = d.severity === "error" ? red("error") : yellow("warning");
    const at = d.pointer === "" ? "" : dim(` (at ${visible(d.pointer)})`);
    out.push(`${bold(`${visible(where(d))}:`)} ${sev}: ${visible(boundedSummary(d.summary))}${at}`);
    const loc = d.location;
    const line = loc && lineText(texts, loc);
    if (loc && line !== undefined) {
      const num = String(loc.start.line);
      const width =
        loc.end.line === loc.start.line
          ? Math.max(1, loc.end.column - loc.start.column)
          : Math.max(1, line.length - loc.start.column + 1);
      const x = excerpt(line, loc.start.column, width);
      out.push(`${dim(`${num} |`)} ${visible(x.text)}`);
      out.push(
        `${" ".repeat(num.length)} ${dim("|")} ${" ".repeat(x.column - 1)}${(d.severity === "error" ? red : yellow)("^".repeat(x.width))}`,
      );
    }
    if (d.detail) out.push(`  ${dim(visible(boundedSummary(d.detail)))}`);
  }
  return out.join("\n");
}

function byteOffset(texts: Texts, file: string, offset: number): number {
  const t = texts.get(file);
  return t === undefined ? offset : Buffer.byteLength(t.slice(0, offset), "utf8");
}

export interface JsonReport {
  readonly format_version: string;
  readonly valid: boolean;
  readonly error_count: number;
  readonly warning_count: number;
  readonly diagnostics: readonly unknown[];
  readonly effective?: unknown;
}

function snippetOf(line: string, loc: Location) {
  const endCol = loc.end.line === loc.start.line ? loc.end.column : line.length + 1;
  const x = excerpt(line, loc.start.column, Math.max(1, endCol - loc.start.column));
  return {
    code: x.text,
    start_line: loc.start.line,
    highlight_start_offset: x.column - 1,
    highlight_end_offset: x.column - 1 + x.width,
  };
}

/** The `--json` document. */
export function formatJson(
  diagnostics: readonly Diagnostic[],
  texts: Texts,
  effective?: unknown,
): JsonReport {
  const errors = diagnostics.filter((d) => d.severity === "error").length;
  return {
    format_version: JSON_FORMAT_VERSION,
    valid: errors === 0,
    error_count: errors,
    warning_count: diagnostics.length - errors,
    diagnostics: diagnostics.map((d) => {
      const loc = d.location;
      const line = loc && lineText(texts, loc);
      return {
        severity: d.severity,
        code: d.code,
        summary: boundedSummary(d.summary),
        detail: boundedSummary(d.detail ?? ""),
        pointer: d.pointer,
        ...(loc
          ? {
              range: {
                filename: loc.file,
                start: {
                  line: loc.start.line,
                  column: loc.start.column,
                  byte: byteOffset(texts, loc.file, loc.start.offset),
                },
                end: {
                  line: loc.end.line,
                  column: loc.end.column,
                  byte: byteOffset(texts, loc.file, loc.end.offset),
                },
              },
            }
          : {}),
        ...(loc && line !== undefined ? { snippet: snippetOf(line, loc) } : {}),
      };
    }),
    ...(effective === undefined ? {} : { effective }),
  };
}

// GitHub workflow commands: data escapes %, CR, LF; property values also ':' and ','.
const escapeData = (s: string) => s.replace(/%/g, "%25").replace(/\r/g, "%0D").replace(/\n/g, "%0A");
const escapeProperty = (s: string) => escapeData(s).replace(/:/g, "%3A").replace(/,/g, "%2C");

/** One `::error file=…,line=…::message` line per diagnostic. */
export function formatGithub(diagnostics: readonly Diagnostic[]): string {
  return diagnostics
    .map((d) => {
      const l = d.location;
      const props = [
        ...(l
          ? [
              `file=${escapeProperty(l.file)}`,
              `line=${l.start.line}`,
              `col=${l.start.column}`,
              `endLine=${l.end.line}`,
              `endColumn=${l.end.column}`,
            ]
          : []),
        `title=${escapeProperty(`backhaul ${d.code}`)}`,
      ];
      const message = `${visible(boundedSummary(d.summary))}${d.pointer ? ` (at ${visible(d.pointer)})` : ""}${d.detail ? `\n${visible(boundedSummary(d.detail))}` : ""}`;
      return `::${d.severity} ${props.join(",")}::${escapeData(message)}`;
    })
    .join("\n");
}

/** Absolute paths become file: URLs; relative ones stay relative (code-scanning tools resolve them
 * against the checkout). */
function fileUri(path: string): string {
  return isAbsolute(path) ? pathToFileURL(path).href : path.split(sep).map(encodeURIComponent).join("/");
}

/** A SARIF 2.1.0 log with one run. */
export function formatSarif(diagnostics: readonly Diagnostic[], version: string): unknown {
  const codes = [...new Set(diagnostics.map((d) => d.code))].sort();
  return {
    $schema: "https://json.schemastore.org/sarif-2.1.0.json",
    version: "2.1.0",
    runs: [
      {
        tool: {
          driver: {
            name: "backhaul",
            version,
            rules: codes.map((c) => ({ id: c, shortDescription: { text: CATALOGUE[c] } })),
          },
        },
        results: diagnostics.map((d) => ({
          ruleId: d.code,
          ruleIndex: codes.indexOf(d.code),
          level: d.severity,
          message: {
            text: `${boundedSummary(d.summary)}${d.pointer ? ` (at ${d.pointer})` : ""}${d.detail ? `. ${boundedSummary(d.detail)}` : ""}`,
          },
          ...(d.location
            ? {
                locations: [
                  {
                    physicalLocation: {
                      artifactLocation: { uri: fileUri(d.location.file) },
                      region: {
                        startLine: d.location.start.line,
                        startColumn: d.location.start.column,
                        endLine: d.location.end.line,
                        endColumn: Math.max(
                          d.location.end.column,
                          d.location.start.column + (d.location.end.line === d.location.start.line ? 1 : 0),
                        ),
                      },
                    },
                  },
                ],
              }
            : {}),
        })),
      },
    ],
  };
}
