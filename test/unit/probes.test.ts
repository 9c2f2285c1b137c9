// Probes against servers on this machine's loopback only: nothing leaves the host.
import { createSocket } from "node:dgram";
import { createServer as createHttpServer, type Server } from "node:http";
import { createServer, type AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { probe } from "../../src/effects/probe/probes.js";

const LO = "127.0.0.1";
let tcpPort = 0;
let httpPort = 0;
let dnsPort = 0;
const closers: (() => void)[] = [];

beforeAll(async () => {
  const tcp = createServer((s) => s.end());
  await new Promise<void>((r) => tcp.listen(0, LO, r));
  tcpPort = (tcp.address() as AddressInfo).port;
  closers.push(() => tcp.close());

  const http: Server = createHttpServer((req, res) => {
    res.statusCode = req.url === "/generate_204" ? 204 : 200;
    res.end(req.url === "/generate_204" ? undefined : "<html>portal</html>");
  });
  await new Promise<void>((r) => http.listen(0, LO, r));
  httpPort = (http.address() as AddressInfo).port;
  closers.push(() => http.close());

  // A minimal DNS server that answers every query with NXDOMAIN.
  const dns = createSocket("udp4");
  dns.on("message", (q, peer) => {
    const a = Buffer.from(q);
    a[2] = 0x81;
    a[3] = 0x83;
    dns.send(a, peer.port, peer.address);
  });
  await new Promise<void>((r) => dns.bind(0, LO, r));
  dnsPort = dns.address().port;
  closers.push(() => dns.close());
});
afterAll(() => closers.forEach((c) => c()));

describe("probes bound to a source address", () => {
  it("TCP connect succeeds against a listener and reports an RTT and bytes", async () => {
    const r = await probe({ type: "tcp", url: "tcp://lo", host: LO, port: tcpPort }, LO, 1000);
    expect(r.ok).toBe(true);
    expect(r.rttMs).toBeGreaterThanOrEqual(0);
    expect(r.bytes).toBeGreaterThan(0);
  });

  it("TCP connect fails against a closed port with the reason", async () => {
    const closed = createServer();
    await new Promise<void>((res) => closed.listen(0, LO, res));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((res) => closed.close(() => res()));
    const r = await probe({ type: "tcp", url: "tcp://lo", host: LO, port }, LO, 1000);
    expect(r).toMatchObject({ ok: false, error: expect.stringContaining("ECONNREFUSED") });
  });

  it("HTTP succeeds with the expected status", async () => {
    const r = await probe(
      { type: "http", url: "http://lo", host: LO, port: httpPort, path: "/generate_204", expectStatus: 204 },
      LO,
      1000,
    );
    expect(r.ok).toBe(true);
  });

  it("HTTP fails behind a captive portal that answers with another status", async () => {
    const r = await probe(
      { type: "http", url: "http://lo", host: LO, port: httpPort, path: "/portal", expectStatus: 204 },
      LO,
      1000,
    );
    expect(r).toMatchObject({ ok: false, error: "status 200, expected 204" });
  });

  it("DNS counts any answer, NXDOMAIN included, as the resolver reachable", async () => {
    const r = await probe(
      { type: "dns", url: "dns://lo", host: LO, port: dnsPort, name: "probe.example" },
      LO,
      1000,
    );
    expect(r.ok).toBe(true);
  });

  it("DNS fails within its timeout when nothing answers", async () => {
    const silent = createSocket("udp4");
    await new Promise<void>((res) => silent.bind(0, LO, res));
    const r = await probe(
      { type: "dns", url: "dns://lo", host: LO, port: silent.address().port, name: "x.example" },
      LO,
      300,
    );
    silent.close();
    expect(r.ok).toBe(false);
  });

  it("ICMP through the system's ping answers from loopback", async () => {
    const r = await probe({ type: "icmp", url: "icmp://lo", host: LO }, LO, 1000);
    expect(r.ok).toBe(true);
    expect(r.rttMs).toBeGreaterThanOrEqual(0);
  });

  it("a probe from an address this host does not have fails instead of leaving another way", async () => {
    const r = await probe({ type: "tcp", url: "tcp://lo", host: LO, port: tcpPort }, "198.51.100.99", 500);
    expect(r).toMatchObject({ ok: false, error: expect.stringContaining("EADDRNOTAVAIL") });
  });
});

describe("a probe round", () => {
  it("asks every target and counts the answers, bytes and RTTs", async () => {
    const { probeRound } = await import("../../src/effects/probe/round.js");
    const r = await probeRound(
      [
        { type: "tcp", url: "tcp://lo", host: LO, port: tcpPort },
        {
          type: "http",
          url: "http://lo",
          host: LO,
          port: httpPort,
          path: "/generate_204",
          expectStatus: 204,
        },
        { type: "http", url: "http://lo", host: LO, port: httpPort, path: "/portal", expectStatus: 204 },
      ],
      { source: LO, timeoutMs: 1000, jitterMs: 20 },
    );
    expect(r.asked).toBe(3);
    expect(r.answered).toBe(2);
    expect(r.rttsMs).toHaveLength(2);
    expect(r.bytes).toBe(r.results.reduce((n, x) => n + x.result.bytes, 0));
  });
});
