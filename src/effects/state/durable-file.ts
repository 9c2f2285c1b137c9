// Durable files (state, journal, budgets, plans): written atomically (temp file, fsync, rename, fsync of
// the directory) inside a checksummed envelope. A file that fails its checksum or its shape is moved
// aside and reported, never silently reset: the operator decides what to do with it.
import { randomBytes } from "node:crypto";
import {
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  writeSync,
} from "node:fs";
import { basename, dirname, join } from "node:path";
import { canonicalJson, sha256 } from "../../util/canonical.js";

interface Envelope {
  readonly backhaul: string;
  readonly version: number;
  readonly sha256: string;
  readonly data: unknown;
}

export class CorruptFileError extends Error {
  constructor(
    readonly path: string,
    readonly keptAs: string,
    readonly why: string,
  ) {
    super(`${path} is corrupted (${why}); it was moved aside to ${keptAs} and left for you to inspect`);
    this.name = "CorruptFileError";
  }
}

function fsyncDir(dir: string): void {
  const fd = openSync(dir, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Write bytes to a temp file beside `path`, fsync it, and return the temp path (not yet in place). */
export function writeTempBeside(path: string, text: string, mode = 0o600): string {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`);
  const fd = openSync(tmp, "wx", mode);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return tmp;
}

export function writeTextAtomic(path: string, text: string, mode = 0o600): void {
  const tmp = writeTempBeside(path, text, mode);
  try {
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
  fsyncDir(dirname(path));
}

/** Atomically write `data` as the durable file `path` of the given kind and format version. */
export function writeDurable(path: string, kind: string, version: number, data: unknown): void {
  const body = canonicalJson(data);
  const envelope: Envelope = { backhaul: kind, version, sha256: sha256(body), data: JSON.parse(body) };
  writeTextAtomic(path, JSON.stringify(envelope, null, 2) + "\n");
}

/**
 * Read a durable file. Returns undefined when it does not exist. A file that is not a valid envelope
 * of this kind and version, fails its checksum, or fails `check` is moved aside and CorruptFileError
 * is thrown.
 */
export function readDurable<T>(
  path: string,
  kind: string,
  version: number,
  check: (data: unknown) => data is T,
): T | undefined {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw e;
  }
  const why = problemOf(text, kind, version, check);
  if (why !== undefined) {
    const keptAs = `${path}.corrupt-${new Date().toISOString().replace(/[:.]/g, "-")}`;
    renameSync(path, keptAs);
    throw new CorruptFileError(path, keptAs, why);
  }
  return (JSON.parse(text) as Envelope).data as T;
}

function problemOf(
  text: string,
  kind: string,
  version: number,
  check: (data: unknown) => boolean,
): string | undefined {
  let env: Partial<Envelope>;
  try {
    env = JSON.parse(text) as Partial<Envelope>;
  } catch {
    return "not valid JSON";
  }
  if (env === null || typeof env !== "object") return "not an object";
  if (env.backhaul !== kind) return `expected a ${kind} file, found ${JSON.stringify(env.backhaul)}`;
  if (env.version !== version)
    return `expected format version ${version}, found ${JSON.stringify(env.version)}`;
  if (typeof env.sha256 !== "string" || sha256(canonicalJson(env.data)) !== env.sha256)
    return "checksum mismatch";
  if (!check(env.data)) return "unexpected content";
  return undefined;
}
