// Reading the files a policy names (its own YAML, the hotspot's passphrase) without trusting them:
// links are followed, but what is read must then be a regular file no larger than a cap. A FIFO, a
// device (/dev/zero), a socket or a directory is refused before a byte is read, and the file is opened
// non-blocking, so a FIFO put in its place between the check and the open cannot hang the reader.
import { closeSync, constants, fstatSync, openSync, readSync } from "node:fs";

export type FileReading =
  | {
      readonly ok: true;
      readonly text: string;
      /** The file read, as its descriptor's stat saw it: device, inode, size and modification time. */
      readonly identity: string;
    }
  | {
      readonly ok: false;
      readonly reason: "missing" | "not-regular" | "too-large" | "unreadable" | "exposed";
      readonly message: string;
    };

/** What a file is, in words, from its stat. */
function whatItIs(st: ReturnType<typeof fstatSync>): string {
  if (st.isDirectory()) return "a directory";
  if (st.isFIFO()) return "a FIFO";
  if (st.isCharacterDevice() || st.isBlockDevice()) return "a device";
  if (st.isSocket()) return "a socket";
  return "not a regular file";
}

/**
 * Why a file that holds a secret may not be used: it must belong to the user backhaul runs as (a file
 * in someone else's home is theirs to change) and be readable by nobody else.
 */
function exposure(path: string, st: { readonly uid: number; readonly mode: number }): string | undefined {
  const uid = process.getuid?.();
  if (uid !== undefined && st.uid !== uid)
    return `${path} belongs to uid ${st.uid}, not to the user backhaul runs as (uid ${uid}): a secret must be its own`;
  if ((st.mode & 0o077) !== 0)
    return `${path} is readable or writable by group or others (mode ${(st.mode & 0o777).toString(8).padStart(4, "0")}): chmod 600 it`;
  return undefined;
}

/** What tells one version of a file from another: device, inode, size, modification time. */
export const fileIdentity = (st: {
  readonly dev: number;
  readonly ino: number;
  readonly size: number;
  readonly mtimeMs: number;
}): string => `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}`;

/** Read a whole regular file of at most maxBytes as UTF-8. Never blocks, never reads past the cap. */
export function readRegularFile(path: string, maxBytes: number, o: { secret?: boolean } = {}): FileReading {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return code === "ENOENT"
      ? { ok: false, reason: "missing", message: `${path}: no such file (or a dangling link)` }
      : { ok: false, reason: "unreadable", message: `${path}: cannot be opened (${code ?? "error"})` };
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile())
      return { ok: false, reason: "not-regular", message: `${path} is ${whatItIs(st)}, not a regular file` };
    const exposed =
      o.secret === true ? exposure(path, { uid: Number(st.uid), mode: Number(st.mode) }) : undefined;
    if (exposed !== undefined) return { ok: false, reason: "exposed", message: exposed };
    if (st.size > maxBytes)
      return {
        ok: false,
        reason: "too-large",
        message: `${path} is ${st.size} bytes; at most ${maxBytes} are read`,
      };
    // The file may grow between fstat and read: read up to one byte past the cap to notice.
    const buf = Buffer.alloc(maxBytes + 1);
    let n = 0;
    for (let r = -1; r !== 0 && n < buf.length; n += r) r = readSync(fd, buf, n, buf.length - n, null);
    if (n > maxBytes)
      return { ok: false, reason: "too-large", message: `${path} is larger than ${maxBytes} bytes` };
    return {
      ok: true,
      text: buf.subarray(0, n).toString("utf8"),
      identity: fileIdentity(st),
    };
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return { ok: false, reason: "unreadable", message: `${path}: cannot be read (${code ?? "error"})` };
  } finally {
    closeSync(fd);
  }
}
