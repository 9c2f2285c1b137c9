// The daemon's status socket: HTTP over a unix socket only root may open. `GET /status` answers the
// current snapshot as JSON; `GET /status?watch=1` streams newline-delimited JSON snapshots, one each
// time the daemon calls notify() and a heartbeat every few seconds. See docs/status.md.
import { lstatSync, mkdirSync, rmSync, chmodSync, type Stats } from "node:fs";
import { createServer, type ServerResponse } from "node:http";
import { connect } from "node:net";
import { basename, dirname, isAbsolute, join } from "node:path";
import { validNetnsName } from "../effects/netns.js";
import { UNIX_SOCKET_PATH_MAX } from "../policy/values.js";
import { fetchStatus } from "./status-client.js";
import type { DaemonStatus } from "./status-model.js";

/** How often a watch stream gets the snapshot even when nothing changed. */
export const WATCH_HEARTBEAT_MS = 2_000;

/** sun_path holds 108 bytes with the terminating NUL. */
const MAX_SOCKET_PATH_BYTES = 107;

/** A watcher that lets this much pile up unread is dropped rather than buffered without end. */
const MAX_WATCH_BACKLOG_BYTES = 1 << 20;

/** The policy socket's file name around the place a namespace goes: "status" and ".sock". */
function socketName(policySocket: string): { readonly stem: string; readonly ext: string } {
  const base = basename(policySocket);
  const dot = base.lastIndexOf(".");
  return dot > 0 ? { stem: base.slice(0, dot), ext: base.slice(dot) } : { stem: base, ext: "" };
}

/**
 * The socket of the daemon that manages `netns` (undefined or null: the host). A namespace goes into
 * the file name before its extension, so daemons of several namespaces do not collide:
 * /run/backhaul/status.sock → /run/backhaul/status.NETNS.sock.
 */
export function statusSocketPath(policySocket: string, netns: string | null | undefined): string {
  if (netns === undefined || netns === null) return policySocket;
  if (!validNetnsName(netns)) throw new Error(`${JSON.stringify(netns)} is not a network namespace name`);
  const { stem, ext } = socketName(policySocket);
  const path = join(dirname(policySocket), `${stem}.${netns}${ext}`);
  // The policy's path fits a Unix socket; with the namespace in it, it may not.
  if (Buffer.byteLength(path, "utf8") > UNIX_SOCKET_PATH_MAX)
    throw new Error(
      `the status socket of namespace ${netns}, ${path}, is longer than a Unix socket's path may be ` +
        `(${UNIX_SOCKET_PATH_MAX} bytes): give daemon.statusSocket a shorter path`,
    );
  return path;
}

/**
 * The namespaces whose daemon (of a policy naming `policySocket`) has a socket among `names` (the
 * entries of the socket's directory): the inverse of statusSocketPath, for "which daemons are there".
 */
export function namespacesWithSockets(policySocket: string, names: readonly string[]): string[] {
  const { stem, ext } = socketName(policySocket);
  return names
    .filter((n) => n.startsWith(`${stem}.`) && n.endsWith(ext) && n.length > stem.length + 1 + ext.length)
    .map((n) => n.slice(stem.length + 1, n.length - ext.length))
    .filter(validNetnsName)
    .sort();
}

/** Another daemon answers on the socket: two daemons must not manage the same node. */
export class StatusSocketInUseError extends Error {
  constructor(
    readonly socketPath: string,
    readonly pid: number | undefined,
  ) {
    super(
      `another backhaul daemon${pid !== undefined ? ` (pid ${pid})` : ""} answers on ${socketPath}: stop it first, or give this one another daemon.statusSocket`,
    );
    this.name = "StatusSocketInUseError";
  }
}

export interface StatusServer {
  readonly path: string;
  /** The snapshot changed: push it to every watcher (coalesced within one turn of the event loop). */
  notify(): void;
  /** Ends the watch streams, stops listening and removes the socket. */
  close(): Promise<void>;
}

export interface StatusServerOptions {
  readonly heartbeatMs?: number;
  /** POST /pass: run a full pass now and answer with its record (`backhaul hotspot token` uses it). */
  readonly pass?: (reason: string) => Promise<unknown>;
}

function statOrUndefined(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw e;
  }
}

/** Whether something accepts connections on the socket at `path`. */
function answers(path: string): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const s = connect({ path });
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", (e: NodeJS.ErrnoException) =>
      e.code === "ECONNREFUSED" || e.code === "ENOENT" ? resolve(false) : reject(e),
    );
  });
}

/** Removes a socket left by a daemon that died; refuses a live one or a file that is not a socket. */
async function clearStale(path: string): Promise<void> {
  const st = statOrUndefined(path);
  if (st === undefined) return;
  if (!st.isSocket()) {
    throw new Error(`${path} exists and is not a socket: remove it or set another daemon.statusSocket`);
  }
  if (await answers(path)) {
    const pid = await fetchStatus(path).then(
      (s) => s.pid,
      () => undefined,
    );
    throw new StatusSocketInUseError(path, pid);
  }
  rmSync(path, { force: true });
}

function sendJson(res: ServerResponse, code: number, body: unknown): void {
  res
    .writeHead(code, { "content-type": "application/json", connection: "close" })
    .end(`${JSON.stringify(body)}\n`);
}

/**
 * Serves `getStatus()` on the unix socket at `path`: creates its directory (mode 0700) when missing,
 * removes a stale socket, refuses when another daemon answers there (StatusSocketInUseError), and
 * leaves the socket with mode 0600 so only root can connect.
 */
export async function serveStatus(
  path: string,
  getStatus: () => DaemonStatus,
  opts: StatusServerOptions = {},
): Promise<StatusServer> {
  if (!isAbsolute(path)) throw new Error(`status socket ${JSON.stringify(path)}: not an absolute path`);
  if (Buffer.byteLength(path) > MAX_SOCKET_PATH_BYTES) {
    throw new Error(
      `status socket ${path}: longer than the ${MAX_SOCKET_PATH_BYTES} bytes a unix socket path may have`,
    );
  }
  const heartbeatMs = opts.heartbeatMs ?? WATCH_HEARTBEAT_MS;
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  await clearStale(path);

  const watchers = new Set<ServerResponse>();
  let heartbeat: NodeJS.Timeout | undefined;
  let pushQueued = false;

  const push = (): void => {
    pushQueued = false;
    if (watchers.size === 0) return;
    let line: string;
    try {
      line = `${JSON.stringify(getStatus())}\n`;
    } catch {
      return; // the next notify or heartbeat tries again; a one-shot GET reports the error
    }
    for (const w of watchers) {
      if (w.writableLength > MAX_WATCH_BACKLOG_BYTES) w.destroy();
      else w.write(line);
    }
  };

  const unwatch = (res: ServerResponse): void => {
    watchers.delete(res);
    if (watchers.size === 0 && heartbeat !== undefined) {
      clearInterval(heartbeat);
      heartbeat = undefined;
    }
  };

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://status");
    if (url.pathname === "/pass" && opts.pass !== undefined) {
      if (req.method !== "POST") {
        res.setHeader("allow", "POST");
        return sendJson(res, 405, { error: "only POST" });
      }
      // The reason is for the pass's record and log: a short word from our own commands.
      const reason = url.searchParams.get("reason") ?? "requested";
      if (!/^[\w .:-]{1,64}$/.test(reason))
        return sendJson(res, 400, { error: "a reason is a short plain text" });
      opts.pass(reason).then(
        (record) => sendJson(res, 200, { pass: record }),
        (e: unknown) => sendJson(res, 503, { error: e instanceof Error ? e.message : String(e) }),
      );
      return;
    }
    if (url.pathname !== "/status") return sendJson(res, 404, { error: "not found: ask GET /status" });
    if (req.method !== "GET") {
      res.setHeader("allow", "GET");
      return sendJson(res, 405, { error: "only GET" });
    }
    let snapshot: string;
    try {
      snapshot = JSON.stringify(getStatus());
    } catch (e) {
      return sendJson(res, 500, { error: e instanceof Error ? e.message : String(e) });
    }
    if (url.searchParams.get("watch") !== "1") {
      res.writeHead(200, { "content-type": "application/json", connection: "close" }).end(`${snapshot}\n`);
      return;
    }
    res.writeHead(200, {
      "content-type": "application/x-ndjson",
      "cache-control": "no-store",
      connection: "close",
    });
    res.write(`${snapshot}\n`);
    watchers.add(res);
    res.on("close", () => unwatch(res));
    heartbeat ??= setInterval(push, heartbeatMs);
  });
  server.maxConnections = 64;

  await new Promise<void>((resolve, reject) => {
    server.once("error", (e: NodeJS.ErrnoException) =>
      reject(new Error(`status socket ${path}: ${e.code === "EADDRINUSE" ? "already in use" : e.message}`)),
    );
    // bind() happens inside listen(): a narrow umask there means the socket is never reachable by
    // others, not even between bind and the chmod below.
    const umask = process.umask(0o177);
    try {
      server.listen(path, () => resolve());
    } finally {
      process.umask(umask);
    }
  });
  chmodSync(path, 0o600);

  return {
    path,
    notify: () => {
      if (pushQueued) return;
      pushQueued = true;
      setImmediate(push);
    },
    close: async () => {
      if (heartbeat !== undefined) clearInterval(heartbeat);
      heartbeat = undefined;
      for (const w of watchers) w.end();
      watchers.clear();
      // Every answer closes its connection when done, so this is quick; a client that does not read
      // its end is cut off after a second. Closing the listener removes the socket file (libuv).
      await new Promise<void>((resolve) => {
        const cutOff = setTimeout(() => server.closeAllConnections(), 1_000);
        server.close(() => {
          clearTimeout(cutOff);
          resolve();
        });
      });
    },
  };
}
