// Policy sources: read a file or a directory of YAML files, parse them keeping every node's position,
// and merge them into one document with a source map from JSON pointers to file:line:col.
import { lstat, readdir, realpath, stat } from "node:fs/promises";
import { fileIdentity, readRegularFile } from "./read-file.js";
import { join } from "node:path";
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, type Node } from "yaml";
import type { Diagnostic, Location, SourceMap } from "./types.js";
import { escapePointer } from "./pointer.js";
import type { DiagnosticCode } from "./catalogue.js";

/** Limits against hostile input. */
export const LIMITS = {
  fileBytes: 1024 * 1024,
  files: 64,
  depth: 32,
  aliases: 100,
  /** Keys and list items in one file: a real policy has a few hundred. */
  entries: 10_000,
} as const;

export interface SourceFile {
  readonly file: string;
  readonly text: string;
}

type Entry = { value: Location; key?: Location };

export interface ParsedSources {
  /** The merged document as plain data. */
  readonly data: Record<string, unknown>;
  readonly sources: SourceMap;
  /** Each file's text, for snippets. */
  readonly texts: ReadonlyMap<string, string>;
  readonly diagnostics: Diagnostic[];
}

function locate(file: string, lc: LineCounter, start: number, end: number): Location {
  const s = lc.linePos(start);
  const e = lc.linePos(Math.max(start, end));
  return {
    file,
    start: { line: s.line, column: s.col, offset: start },
    end: { line: e.line, column: e.col, offset: Math.max(start, end) },
  };
}

function nodeLocation(file: string, lc: LineCounter, node: Node | null | undefined): Location | undefined {
  const r = node?.range;
  if (!r) return undefined;
  return locate(file, lc, r[0], r[1]);
}

/** Why mapNodes stopped: a node nested too deeply, a key given twice, or too many entries. */
type Stop =
  | { readonly why: "too-deep"; readonly node: Node }
  | { readonly why: "duplicate-key"; readonly key: string; readonly node: Node }
  | { readonly why: "too-many-entries"; readonly node: Node };

/**
 * Record the position of every node under `node`, counting entries against LIMITS.entries and finding
 * keys given twice in one mapping (in one pass: the YAML library's own check is quadratic).
 */
function mapNodes(
  node: unknown,
  pointer: string,
  file: string,
  lc: LineCounter,
  entries: Map<string, Entry>,
  depth: number,
): Stop | undefined {
  if (depth > LIMITS.depth) return { why: "too-deep", node: node as Node };
  // An alias is recorded where it is written; what it points at is not walked again (alias bombs).
  if (isAlias(node) || isScalar(node)) return undefined;
  if (entries.size > LIMITS.entries) return { why: "too-many-entries", node: node as Node };
  if (isMap(node)) {
    const seen = new Set<string>();
    for (const pair of node.items) {
      const keyNode = pair.key as Node | null;
      const key = isScalar(keyNode) ? String(keyNode.value) : String(keyNode);
      if (seen.has(key)) return { why: "duplicate-key", key, node: (keyNode ?? node) as Node };
      seen.add(key);
      const p = `${pointer}/${escapePointer(key)}`;
      const keyLoc = nodeLocation(file, lc, keyNode);
      const valueLoc = nodeLocation(file, lc, pair.value as Node | null) ?? keyLoc;
      if (valueLoc) entries.set(p, { value: valueLoc, ...(keyLoc ? { key: keyLoc } : {}) });
      if (entries.size > LIMITS.entries) return { why: "too-many-entries", node: (keyNode ?? node) as Node };
      const stop = mapNodes(pair.value, p, file, lc, entries, depth + 1);
      if (stop) return stop;
    }
  } else if (isSeq(node)) {
    for (let i = 0; i < node.items.length; i++) {
      const loc = nodeLocation(file, lc, node.items[i] as Node);
      if (loc) entries.set(`${pointer}/${i}`, { value: loc });
      if (entries.size > LIMITS.entries)
        return { why: "too-many-entries", node: (node.items[i] ?? node) as Node };
    }
    for (let i = 0; i < node.items.length; i++) {
      const stop = mapNodes(node.items[i], `${pointer}/${i}`, file, lc, entries, depth + 1);
      if (stop) return stop;
    }
  }
  return undefined;
}

export interface ParsedFile {
  readonly file: string;
  readonly data: unknown;
  readonly entries: Map<string, Entry>;
  readonly diagnostics: Diagnostic[];
}

/** Parse one YAML file. Never throws: every problem becomes a diagnostic. */
export function parseFile(src: SourceFile): ParsedFile {
  const { file, text } = src;
  const lc = new LineCounter();
  const diagnostics: Diagnostic[] = [];
  const entries = new Map<string, Entry>();
  const fail = (code: DiagnosticCode, summary: string, detail: string, loc?: Location): ParsedFile => ({
    file,
    data: undefined,
    entries,
    diagnostics: [
      ...diagnostics,
      { severity: "error", code, summary, detail, pointer: "", ...(loc ? { location: loc } : {}) },
    ],
  });
  const bytes = Buffer.byteLength(text, "utf8");
  if (bytes > LIMITS.fileBytes) {
    return fail(
      "file-too-large",
      `the file is ${bytes} bytes; policy files may be at most ${LIMITS.fileBytes}`,
      "split a large policy into several files in a directory",
    );
  }
  // Keys given twice are found by mapNodes (linear), not by the parser (quadratic in a mapping's size).
  const doc = parseDocument(text, { lineCounter: lc, uniqueKeys: false, prettyErrors: false, strict: true });
  for (const e of [...doc.errors, ...doc.warnings]) {
    const loc = locate(file, lc, e.pos[0], e.pos[1]);
    const overflow = /call stack/i.test(e.message);
    diagnostics.push({
      severity: doc.errors.includes(e) ? "error" : "warning",
      code: overflow ? "too-deep" : e.code === "DUPLICATE_KEY" ? "duplicate-key" : "yaml-syntax",
      summary: overflow
        ? "the document is nested too deeply"
        : e.message.split("\n")[0]!.replace(/ at line \d+, column \d+:?$/, ""),
      detail: overflow ? `policies nest at most ${LIMITS.depth} levels` : "fix the YAML syntax",
      pointer: "",
      location: loc,
    });
  }
  if (doc.errors.length > 0) return { file, data: undefined, entries, diagnostics };
  const stop = mapNodes(doc.contents, "", file, lc, entries, 0);
  if (stop?.why === "too-deep")
    return fail(
      "too-deep",
      "the document is nested too deeply",
      `policies nest at most ${LIMITS.depth} levels`,
      nodeLocation(file, lc, stop.node),
    );
  if (stop?.why === "duplicate-key")
    return fail(
      "duplicate-key",
      `Map keys must be unique: ${JSON.stringify(stop.key.slice(0, 64))} is given twice`,
      "remove one of them (YAML takes no key twice in one mapping)",
      nodeLocation(file, lc, stop.node),
    );
  if (stop?.why === "too-many-entries")
    return fail(
      "too-many-entries",
      `the file has more than ${LIMITS.entries} keys and list items`,
      "a policy is far smaller; split generated data out, or check the file is the policy you meant",
      nodeLocation(file, lc, stop.node),
    );
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: LIMITS.aliases });
  } catch (e) {
    if (e instanceof ReferenceError || e instanceof RangeError) {
      return fail(
        "alias-bomb",
        "the document expands aliases too often (a resource exhaustion attack?)",
        `at most ${LIMITS.aliases} alias expansions are allowed; write the values out`,
        nodeLocation(file, lc, doc.contents),
      );
    }
    throw e;
  }
  const root = nodeLocation(file, lc, doc.contents) ?? locate(file, lc, 0, 0);
  entries.set("", { value: root });
  if (data === null || data === undefined) data = {};
  if (typeof data !== "object" || Array.isArray(data)) {
    return fail(
      "not-a-mapping",
      "a policy file holds a mapping of keys (uplinks:, probes:, ...)",
      "see docs/policy.md",
      root,
    );
  }
  return { file, data, entries, diagnostics };
}

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === "object" && !Array.isArray(v);

function where(loc: Location | undefined): string {
  return loc ? `${loc.file}:${loc.start.line}:${loc.start.column}` : "?";
}

/** Merge parsed files in order. Mappings merge key by key; any other value defined twice is an error. */
export function mergeFiles(files: readonly ParsedFile[]): Omit<ParsedSources, "texts"> {
  const data: Record<string, unknown> = {};
  const entries = new Map<string, Entry>();
  const diagnostics: Diagnostic[] = files.flatMap((f) => f.diagnostics);

  const merge = (
    target: Record<string, unknown>,
    source: Record<string, unknown>,
    pointer: string,
    f: ParsedFile,
  ): void => {
    for (const [k, v] of Object.entries(source)) {
      const p = `${pointer}/${escapePointer(k)}`;
      // Own properties only, defined rather than assigned: a key "__proto__" stays a key (and is
      // reported as unknown) instead of reaching a prototype.
      if (!Object.hasOwn(target, k)) {
        Object.defineProperty(target, k, { value: v, enumerable: true, writable: true, configurable: true });
        for (const [ep, e] of f.entries) if (ep === p || ep.startsWith(`${p}/`)) entries.set(ep, e);
        continue;
      }
      const existing = target[k];
      if (isPlainObject(existing) && isPlainObject(v)) {
        merge(existing, v, p, f);
        continue;
      }
      const first = entries.get(p);
      const second = f.entries.get(p);
      const loc = second?.key ?? second?.value;
      diagnostics.push({
        severity: "error",
        code: "defined-twice",
        summary: `"${p}" is defined twice: at ${where(first?.key ?? first?.value)} and at ${where(loc)}`,
        detail:
          "files of a policy directory merge mappings key by key; any other value may be defined in one file only",
        pointer: p,
        ...(loc ? { location: loc } : {}),
      });
    }
  };
  for (const f of files) {
    if (f.data === undefined) continue;
    if (!entries.has("")) {
      const root = f.entries.get("");
      if (root) entries.set("", root);
    }
    merge(data, f.data as Record<string, unknown>, "", f);
  }
  return { data, sources: { files: files.map((f) => f.file), entries }, diagnostics };
}

type SourceReading = { files: SourceFile[]; diagnostics: Diagnostic[] };

/**
 * A directory that changes while it is read (a git sync tool renaming files in, or swapping the
 * symlink it is reached by) is read again, up to `attempts` times; a read counts only when nothing in
 * it changed from before the read until `settleMs` after the last change, so a revision written file
 * by file is not taken half-written.
 */
export const CONSISTENCY = { attempts: 20, settleMs: 100 } as const;

const isPolicyName = (n: string): boolean => /\.ya?ml$/.test(n) && !n.startsWith(".");

/** Where a directory resolves to, what it lists and every entry's identity, and the latest change. */
interface DirSnapshot {
  readonly home: string;
  readonly names: readonly string[];
  /** Each listed file's identity (fileIdentity of what it leads to), by name. */
  readonly identities: ReadonlyMap<string, string>;
  /** Everything that tells this state of the directory from another, as one string. */
  readonly marks: string;
  /** The directory's or an entry's latest change, epoch ms. */
  readonly newest: number;
}

async function snapshotDir(path: string): Promise<DirSnapshot> {
  const home = await realpath(path);
  const dir = await stat(home);
  const names = (await readdir(home)).filter(isPolicyName).sort();
  let newest = Math.max(dir.mtimeMs, dir.ctimeMs);
  const marks: string[] = [home, fileIdentity(dir), String(dir.ctimeMs)];
  const identities = new Map<string, string>();
  for (const n of names) {
    const file = join(home, n);
    const link = await lstat(file).catch(() => undefined);
    const target = link?.isSymbolicLink() ? await stat(file).catch(() => undefined) : link;
    const resolved = link?.isSymbolicLink() ? await realpath(file).catch(() => "") : "";
    newest = Math.max(newest, link?.ctimeMs ?? 0, target?.ctimeMs ?? 0);
    if (target !== undefined) identities.set(n, fileIdentity(target));
    marks.push(
      n,
      link === undefined ? "-" : `${link.ino}:${link.ctimeMs}`,
      target === undefined ? "-" : `${fileIdentity(target)}:${target.ctimeMs}`,
      resolved,
    );
  }
  return { home, names, identities, marks: marks.join("\n"), newest };
}

const sleep = (ms: number): Promise<void> => new Promise((ok) => setTimeout(ok, ms));

/**
 * Read a policy file, or the *.yaml / *.yml files of a policy directory in name order. A path named
 * directly is followed wherever its links point (the operator chose it); inside a directory, a link
 * is followed only to a file within that directory, so a link planted in a pushed policy directory
 * cannot make validate read, or quote in its errors, a file elsewhere (a secret, /etc/shadow).
 * A directory is read as one revision (CONSISTENCY). Errors without a place of their own name the
 * file at 1:1.
 */
export async function readSources(path: string): Promise<SourceReading> {
  let st;
  try {
    st = await stat(path);
  } catch {
    return problem(
      "no-policy",
      `cannot read ${path}: no such file or directory`,
      "give the path of a policy file or directory",
      path,
    );
  }
  if (!st.isDirectory()) return readFiles([{ file: path, read: path }]).reading;
  for (let attempt = 1; ; attempt++) {
    const before = await snapshotDir(path).catch(() => undefined);
    const read = before === undefined ? undefined : await readDirectory(path, before);
    // Changed just now: wait out the settle time, so a revision still being written shows as a change.
    if (before !== undefined && Date.now() - before.newest < CONSISTENCY.settleMs)
      await sleep(CONSISTENCY.settleMs);
    const after = before === undefined ? undefined : await snapshotDir(path).catch(() => undefined);
    if (read !== undefined && read !== "changed" && after?.marks === before?.marks) return read;
    if (attempt === CONSISTENCY.attempts)
      return problem(
        "policy-changing",
        `${path} changed while it was read, ${attempt} times in a row: no consistent revision was read`,
        "a sync tool should replace the directory in one step (a symlink swapped to a complete copy, as git-sync does) or write each revision within a moment",
        path,
      );
    await sleep(CONSISTENCY.settleMs);
  }
}

/** One diagnostic at 1:1 of `file`. */
function problem(code: DiagnosticCode, summary: string, detail: string, file: string): SourceReading {
  return {
    files: [],
    diagnostics: [
      {
        severity: "error",
        code,
        summary,
        detail,
        pointer: "",
        location: { file, start: { line: 1, column: 1, offset: 0 }, end: { line: 1, column: 1, offset: 0 } },
      },
    ],
  };
}

/**
 * The files of a directory as `before` lists them, read from where it resolved to then (a symlink
 * swapped meanwhile does not mix two revisions); "changed" when a file read is not the one listed.
 * Files are named under `path`, as the operator knows them.
 */
async function readDirectory(path: string, before: DirSnapshot): Promise<SourceReading | "changed"> {
  const { home, names } = before;
  if (names.length === 0)
    return problem(
      "no-policy",
      `${path} holds no *.yaml or *.yml files`,
      "a policy directory holds YAML files merged in name order",
      path,
    );
  if (names.length > LIMITS.files)
    return problem(
      "too-many-files",
      `${path} holds ${names.length} policy files; at most ${LIMITS.files} are read`,
      "merge some of them",
      path,
    );
  for (const n of names) {
    const link = await lstat(join(home, n)).catch(() => undefined);
    if (link === undefined) return "changed";
    if (!link.isSymbolicLink()) continue;
    const target = await realpath(join(home, n)).catch(() => undefined);
    if (target !== undefined && !target.startsWith(`${home}/`))
      return problem(
        "outside-link",
        `${join(path, n)} is a link to a file outside the policy directory ${path}: not read`,
        "put the file itself in the directory, or link only to files inside it",
        join(path, n),
      );
  }
  const { reading, identities } = readFiles(names.map((n) => ({ file: join(path, n), read: join(home, n) })));
  // Each file as its descriptor saw it must be the one the listing saw.
  if (identities.some((id, i) => id !== before.identities.get(names[i]!))) return "changed";
  return reading;
}

/**
 * Read each file (`read`, reported as `file`): links followed, a regular file within the size cap (a
 * FIFO or a device named *.yaml is refused, never read as an empty policy, and never blocks the
 * reader). With each file's identity as its descriptor saw it.
 */
function readFiles(list: readonly { readonly file: string; readonly read: string }[]): {
  reading: SourceReading;
  identities: string[];
} {
  const files: SourceFile[] = [];
  const identities: string[] = [];
  for (const { file, read } of list) {
    const r = readRegularFile(read, LIMITS.fileBytes);
    if (r.ok) {
      files.push({ file, text: r.text });
      identities.push(r.identity);
      continue;
    }
    const message = r.message.startsWith(read) ? file + r.message.slice(read.length) : r.message;
    const fail = (code: DiagnosticCode, summary: string, detail: string) => ({
      reading: problem(code, summary, detail, file),
      identities,
    });
    if (r.reason === "too-large")
      return fail(
        "file-too-large",
        `${message}; policy files may be at most ${LIMITS.fileBytes} bytes`,
        "split a large policy into several files in a directory",
      );
    if (r.reason === "not-regular")
      return fail("no-policy", message, "a policy is a YAML file, or a directory of YAML files");
    return fail(
      "no-policy",
      `cannot read ${message}`,
      r.reason === "missing" ? "remove it or fix the link" : "check the file's permissions",
    );
  }
  return { reading: { files, diagnostics: [] }, identities };
}

/** Parse and merge source texts (no file system access). */
export function parseSources(files: readonly SourceFile[]): ParsedSources {
  const merged = mergeFiles(files.map(parseFile));
  const texts = new Map(files.map((f) => [f.file, f.text]));
  return { ...merged, texts };
}

/**
 * Where the value at a JSON pointer was written. A pointer with no entry of its own (a value filled in
 * from the schema's defaults) resolves to its nearest written ancestor; `exact` says which happened.
 */
export function positionOf(
  sources: SourceMap,
  pointer: string,
  part: "value" | "key" = "value",
): (Location & { readonly exact: boolean }) | undefined {
  let p = pointer;
  let exact = true;
  while (true) {
    const e = sources.entries.get(p);
    if (e) return { ...((part === "key" && e.key) || e.value), exact };
    if (p === "") return undefined;
    p = p.slice(0, p.lastIndexOf("/"));
    exact = false;
  }
}
