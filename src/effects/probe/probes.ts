// One probe of one target through one uplink. A probe bound to the uplink's source address leaves by
// that uplink's source rule whichever uplink is active; an unbound one (no source) takes the general
// path, the way ordinary traffic leaves (apply --confirm-when-healthy checks both).
import { Resolver } from "node:dns/promises";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { connect } from "node:net";
import { performance } from "node:perf_hooks";
import type { ProbeTarget } from "../../policy/types.js";
import { run } from "../exec.js";

/** Targets are the policy's own (src/policy/types.ts): one description of a target, from file to socket. */
export type { ProbeTarget };

export interface ProbeResult {
  readonly ok: boolean;
  readonly rttMs?: number;
  /** Bytes this probe put on the wire, both directions, headers included (an estimate for budgets). */
  readonly bytes: number;
  readonly error?: string;
}

/** IPv4/TCP headers of a handshake and teardown: SYN, SYN-ACK, ACK, FIN, ACK, FIN, ACK (40 bytes each). */
const TCP_OVERHEAD = 7 * 40;

function elapsed(start: number): number {
  return Math.round((performance.now() - start) * 1000) / 1000;
}

function tcpProbe(
  host: string,
  port: number,
  source: string | undefined,
  timeoutMs: number,
): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const start = performance.now();
    const sock = connect({ host, port, localAddress: source, timeout: timeoutMs });
    const done = (r: ProbeResult) => {
      sock.destroy();
      resolve(r);
    };
    sock.once("connect", () => done({ ok: true, rttMs: elapsed(start), bytes: TCP_OVERHEAD }));
    sock.once("timeout", () => done({ ok: false, bytes: 2 * 40, error: `no answer within ${timeoutMs} ms` }));
    sock.once("error", (e) => done({ ok: false, bytes: 2 * 40, error: e.message }));
  });
}

function httpProbe(
  t: Extract<ProbeTarget, { type: "http" | "https" }>,
  source: string | undefined,
  timeoutMs: number,
) {
  return new Promise<ProbeResult>((resolve) => {
    const start = performance.now();
    const req = (t.type === "https" ? httpsRequest : httpRequest)(
      {
        host: t.host,
        port: t.port,
        path: t.path,
        method: "GET",
        localAddress: source,
        timeout: timeoutMs,
        agent: false,
        headers: { "user-agent": "backhaul-probe", connection: "close" },
      },
      (res) => {
        let body = 0;
        res.on("data", (c: Buffer) => (body += c.length));
        res.on("end", () => {
          const bytes = TCP_OVERHEAD + 200 + body + 40 * (1 + Math.ceil(body / 1400));
          const status = res.statusCode ?? 0;
          resolve(
            status === t.expectStatus
              ? { ok: true, rttMs: elapsed(start), bytes }
              : // A captive portal answers, but not with what the real service would say.
                {
                  ok: false,
                  rttMs: elapsed(start),
                  bytes,
                  error: `status ${status}, expected ${t.expectStatus}`,
                },
          );
        });
      },
    );
    req.once("timeout", () => {
      req.destroy();
      resolve({ ok: false, bytes: 2 * 40, error: `no answer within ${timeoutMs} ms` });
    });
    req.once("error", (e) => resolve({ ok: false, bytes: 2 * 40, error: e.message }));
    req.end();
  });
}

async function dnsProbe(
  t: Extract<ProbeTarget, { type: "dns" }>,
  source: string | undefined,
  timeoutMs: number,
) {
  const r = new Resolver({ timeout: timeoutMs, tries: 1 });
  if (source !== undefined)
    r.setLocalAddress(source.includes(":") ? "0.0.0.0" : source, source.includes(":") ? source : "::0");
  r.setServers([t.port === 53 ? t.host : `${t.host.includes(":") ? `[${t.host}]` : t.host}:${t.port}`]);
  const start = performance.now();
  const bytes = 2 * (28 + 12 + t.name.length + 6);
  try {
    await r.resolve4(t.name);
    return { ok: true, rttMs: elapsed(start), bytes };
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    // NXDOMAIN or no data still proves the resolver answered through this uplink.
    if (code === "ENOTFOUND" || code === "ENODATA") return { ok: true, rttMs: elapsed(start), bytes };
    return { ok: false, bytes: bytes / 2, error: code ?? String(e) };
  }
}

async function icmpProbe(host: string, source: string | undefined, timeoutMs: number): Promise<ProbeResult> {
  const bind = source === undefined ? [] : ["-I", source];
  const r = await run(["ping", "-n", "-q", "-c", "1", "-W", (timeoutMs / 1000).toFixed(3), ...bind, host], {
    timeoutMs: timeoutMs + 1000,
    allowFailure: true,
  });
  const m = /= [\d.]+\/([\d.]+)\//.exec(r.stdout);
  if (r.exitCode === 0 && m?.[1] !== undefined) return { ok: true, rttMs: Number(m[1]), bytes: 2 * 84 };
  return {
    ok: false,
    bytes: 84,
    error: r.exitCode === 1 ? "no reply" : r.stderr.trim() || `ping exit ${r.exitCode}`,
  };
}

/**
 * Run one probe from `source` (undefined: unbound, the general path); whatever the protocol does, it
 * answers within `timeoutMs` (plus scheduling).
 */
export function probe(
  target: ProbeTarget,
  source: string | undefined,
  timeoutMs: number,
): Promise<ProbeResult> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<ProbeResult>((resolve) => {
    timer = setTimeout(
      () => resolve({ ok: false, bytes: 80, error: `no answer within ${timeoutMs} ms` }),
      timeoutMs,
    );
  });
  return Promise.race([probeOnce(target, source, timeoutMs), deadline]).finally(() => clearTimeout(timer));
}

function probeOnce(target: ProbeTarget, source: string | undefined, timeoutMs: number): Promise<ProbeResult> {
  switch (target.type) {
    case "tcp":
      return tcpProbe(target.host, target.port, source, timeoutMs);
    case "http":
    case "https":
      return httpProbe(target, source, timeoutMs);
    case "dns":
      return dnsProbe(target, source, timeoutMs);
    case "icmp":
      return icmpProbe(target.host, source, timeoutMs);
  }
}
