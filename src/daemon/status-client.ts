// Asking a running daemon for its status over its unix socket (HTTP over the socket): one snapshot,
// or the stream of snapshots it pushes. Used by `backhaul status`, and by the server to tell a live
// daemon from a stale socket.
import { request, type IncomingMessage } from "node:http";
import { STATUS_FORMAT, type DaemonStatus } from "./status-model.js";

/** Nothing answers on the socket: no file there, or a file nobody listens on. */
export class NoDaemonError extends Error {
  constructor(readonly socketPath: string) {
    super(`nothing answers on ${socketPath}`);
    this.name = "NoDaemonError";
  }
}

const MAJOR = STATUS_FORMAT.split(".")[0];

/** One snapshot from its JSON text; refuses what is not a status document of our major version. */
export function parseStatus(text: string): DaemonStatus {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new Error("the daemon's answer is not JSON");
  }
  const version = (doc as { formatVersion?: unknown } | null)?.formatVersion;
  if (typeof version !== "string") throw new Error("the daemon's answer is not a status document");
  if (version.split(".")[0] !== MAJOR) {
    throw new Error(`the daemon speaks status format ${version}; this backhaul reads ${STATUS_FORMAT}`);
  }
  return doc as DaemonStatus;
}

function socketError(socketPath: string, e: NodeJS.ErrnoException): Error {
  if (e.code === "ENOENT" || e.code === "ECONNREFUSED") return new NoDaemonError(socketPath);
  if (e.code === "EACCES" || e.code === "EPERM")
    return new Error(`permission denied on ${socketPath}: only root may read the daemon's status`);
  return new Error(`${socketPath}: ${e.message}`);
}

/** How long a daemon may take to answer before we give up. */
const ANSWER_TIMEOUT_MS = 5_000;

/** GET `path`; `stream`: once the answer starts, it may stay open without limit. */
function get(socketPath: string, path: string, stream: boolean): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path, method: "GET" }, (res) => {
      if (res.statusCode === 200) {
        if (stream) req.setTimeout(0);
        return resolve(res);
      }
      let body = "";
      res.setEncoding("utf8").on("data", (c: string) => (body += c));
      res.on("end", () => reject(new Error(`the daemon answered ${res.statusCode}: ${body.trim()}`)));
    });
    req.on("error", (e: NodeJS.ErrnoException) => reject(socketError(socketPath, e)));
    req.setTimeout(ANSWER_TIMEOUT_MS, () =>
      req.destroy(new Error(`${socketPath}: no answer within ${ANSWER_TIMEOUT_MS} ms`)),
    );
    req.end();
  });
}

/** The daemon's current snapshot. Rejects with NoDaemonError when no daemon listens on the socket. */
export async function fetchStatus(socketPath: string): Promise<DaemonStatus> {
  const res = await get(socketPath, "/status", false);
  let body = "";
  res.setEncoding("utf8");
  for await (const chunk of res) body += chunk as string;
  return parseStatus(body);
}

export interface StatusWatch {
  /** Resolves when the daemon ends the stream or stop() is called; rejects on a broken stream. */
  readonly done: Promise<void>;
  stop(): void;
}

/**
 * Every snapshot the daemon pushes (on each change, and a heartbeat every few seconds), with its
 * JSON line. Rejects like fetchStatus when no daemon answers.
 */
export async function watchStatus(
  socketPath: string,
  onSnapshot: (status: DaemonStatus, line: string) => void,
): Promise<StatusWatch> {
  const res = await get(socketPath, "/status?watch=1", true);
  res.setEncoding("utf8");
  let stopped = false;
  const done = new Promise<void>((resolve, reject) => {
    let buffered = "";
    res.on("data", (chunk: string) => {
      buffered += chunk;
      let nl: number;
      while ((nl = buffered.indexOf("\n")) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        if (line.trim() === "") continue;
        try {
          onSnapshot(parseStatus(line), line);
        } catch (e) {
          res.destroy();
          reject(e instanceof Error ? e : new Error(String(e)));
          return;
        }
      }
    });
    res.on("end", () => resolve());
    res.on("close", () =>
      stopped || res.complete ? resolve() : reject(new Error("the status stream broke off")),
    );
    res.on("error", (e) => (stopped ? resolve() : reject(e)));
  });
  return {
    done,
    stop: () => {
      stopped = true;
      res.destroy();
    },
  };
}

/** How long a requested pass may take (it observes and may reload a service). */
const PASS_TIMEOUT_MS = 45_000;

/** Ask the daemon for a full pass now and wait for its record. */
export function requestPass(socketPath: string, reason: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const req = request(
      { socketPath, path: `/pass?reason=${encodeURIComponent(reason)}`, method: "POST" },
      (res) => {
        let body = "";
        res.setEncoding("utf8").on("data", (c: string) => (body += c));
        res.on("end", () => {
          if (res.statusCode !== 200)
            return reject(new Error(`the daemon answered ${res.statusCode}: ${body.trim()}`));
          try {
            resolve((JSON.parse(body) as { pass: unknown }).pass);
          } catch {
            reject(new Error("the daemon's answer is not JSON"));
          }
        });
      },
    );
    req.on("error", (e: NodeJS.ErrnoException) => reject(socketError(socketPath, e)));
    req.setTimeout(PASS_TIMEOUT_MS, () =>
      req.destroy(new Error(`${socketPath}: the pass did not end within ${PASS_TIMEOUT_MS} ms`)),
    );
    req.end();
  });
}
