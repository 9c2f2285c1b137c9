import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { fc } from "../support/fc.js";
import {
  MonitorParser,
  type ChangeEvent,
  type LinkEvent,
  type MonitorEvent,
} from "../../src/effects/ip-monitor.js";
import { DEFAULT_BACKOFF, restartDelayMs } from "../../src/effects/supervised.js";

// Recorded from `TZ=UTC ip -ts monitor label link address route rule` in a lab namespace while a veth
// pair va/vb was created, set up, its peer taken down and up (carrier loss), va itself down and up,
// an address added, a route added, replaced and deleted in table 100, a rule added and deleted, the
// address deleted and the link deleted.
const RECORDED = readFileSync(
  join(import.meta.dirname, "../fixtures/monitor/ip-ts-monitor-label.txt"),
  "utf8",
);

const parseAll = (text: string): MonitorEvent[] => [...new MonitorParser().push(text).events];
const links = (es: readonly MonitorEvent[], name: string): LinkEvent[] =>
  es.filter((e): e is LinkEvent => e.kind === "link" && e.ifname === name);
const changes = (es: readonly MonitorEvent[], kind: ChangeEvent["kind"]): ChangeEvent[] =>
  es.filter((e): e is ChangeEvent => e.kind === kind);

describe("ip monitor parsing (recorded output)", () => {
  const events = parseAll(RECORDED);

  it("reads every message of the recording, nothing left unexplained", () => {
    const out = new MonitorParser().push(RECORDED);
    expect(out.problems).toEqual([]);
    const headers = RECORDED.split("\n").filter((l) => l.startsWith("["));
    expect(out.events).toHaveLength(headers.length);
  });

  it("reads a link's admin state, carrier and operstate; the peer going down is carrier loss", () => {
    const va = links(events, "va");
    expect(va[0]).toMatchObject({
      ifindex: 3,
      deleted: false,
      adminUp: false,
      carrier: false,
      operstate: "DOWN",
    });
    const states = va.map((e) => [e.adminUp, e.carrier, e.operstate]);
    // up without a peer, up with carrier, peer down: carrier lost while still admin up.
    expect(states).toContainEqual([true, false, "LOWERLAYERDOWN"]);
    expect(states).toContainEqual([true, true, "UP"]);
    const up = va.findIndex((e) => e.carrier);
    const lost = va.findIndex((e, i) => i > up && e.adminUp && !e.carrier);
    expect(lost).toBeGreaterThan(up);
    expect(va.at(-1)).toMatchObject({ deleted: true, adminUp: false, carrier: false });
    expect(va[0]?.flags).toEqual(["BROADCAST", "MULTICAST", "M-DOWN"]);
  });

  it("reads addresses, routes and rules with their interface and removal mark", () => {
    const addr = changes(events, "address").filter((e) => e.text.includes("198.51.100.1/24"));
    expect(addr.map((e) => [e.deleted, e.ifname])).toEqual([
      [false, "va"],
      [true, "va"],
    ]);
    expect(addr[0]?.text).toMatch(/^3: va\s+inet 198\.51\.100\.1\/24 scope global va\nvalid_lft forever/);
    const routes = changes(events, "route").filter((e) => e.text.includes("table 100"));
    expect(routes.map((e) => [e.deleted, e.text])).toEqual([
      [false, "203.0.113.0/24 via 198.51.100.2 dev va table 100 proto 201"],
      [false, "203.0.113.0/24 via 198.51.100.3 dev va table 100 proto 201"],
      [true, "203.0.113.0/24 via 198.51.100.3 dev va table 100 proto 201"],
    ]);
    expect(routes[0]?.ifname).toBe("va");
    expect(changes(events, "rule").map((e) => [e.deleted, e.text])).toEqual([
      [false, "1000:\tfrom 198.51.100.1 lookup 100 proto 201"],
      [true, "1000:\tfrom 198.51.100.1 lookup 100 proto 201"],
    ]);
  });

  it("takes the kernel's timestamp in UTC, to the microsecond", () => {
    const [e] = parseAll("[2026-11-23T15:53:12.826653] [RULE]1000:\tfrom all lookup 100\n");
    expect(e?.at).toBeCloseTo(Date.parse("2026-11-23T15:53:12.826Z") + 0.653, 6);
  });

  it("gives the same events however the output is cut into chunks", () => {
    const lines = RECORDED.split(/(?<=\n)/);
    // Chunks end where ip flushes: after a whole message (header and its continuation lines).
    const messages: string[] = [];
    for (const l of lines) {
      if (l.startsWith("[") || messages.length === 0) messages.push(l);
      else messages[messages.length - 1] += l;
    }
    fc.assert(
      fc.property(
        fc.array(fc.boolean(), { minLength: messages.length, maxLength: messages.length }),
        (cuts) => {
          const p = new MonitorParser();
          const got: MonitorEvent[] = [];
          let chunk = "";
          messages.forEach((m, i) => {
            chunk += m;
            if (cuts[i] === true || i === messages.length - 1) {
              got.push(...p.push(chunk).events);
              chunk = "";
            }
          });
          expect(got).toEqual(events);
        },
      ),
      { numRuns: 200 },
    );
  });

  it("emits a link event as soon as its first line is complete", () => {
    const p = new MonitorParser();
    const head =
      "[2026-11-23T15:53:13.048835] [LINK]3: va@vb: <NO-CARRIER,BROADCAST,MULTICAST,UP,M-DOWN> mtu 1500 qdisc noqueue state LOWERLAYERDOWN group default \n";
    expect(p.push(head.slice(0, 40)).events).toEqual([]);
    expect(p.push(head.slice(40)).events).toEqual([
      expect.objectContaining({ kind: "link", ifname: "va", adminUp: true, carrier: false }),
    ]);
    expect(p.push("    link/ether 7e:0a:0e:2f:99:65 brd ff:ff:ff:ff:ff:ff\n")).toEqual({
      events: [],
      problems: [],
    });
  });

  it("reports a line that is not an ip monitor message instead of guessing", () => {
    const out = new MonitorParser().push(
      "Dump terminated\n[2026-11-23T15:53:13.048835] [NSID]nsid 0 (iproute2 netns name: x)\n",
    );
    expect(out.events).toEqual([]);
    expect(out.problems).toEqual([
      expect.stringMatching(/not an ip monitor message: "Dump terminated"/),
      expect.stringMatching(/unexpected ip monitor message kind \[NSID\]/),
    ]);
  });
});

describe("monitor restart backoff", () => {
  it("doubles from the initial delay and never exceeds the cap", () => {
    expect([1, 2, 3, 4].map((n) => restartDelayMs(n, DEFAULT_BACKOFF))).toEqual([100, 200, 400, 800]);
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 200 }),
        fc.integer({ min: 1, max: 1000 }),
        fc.integer({ min: 1, max: 60_000 }),
        (n, initialMs, maxMs) => {
          const o = { initialMs, maxMs, resetAfterMs: 1 };
          expect(restartDelayMs(n, o)).toBeLessThanOrEqual(maxMs);
          expect(restartDelayMs(n + 1, o)).toBeGreaterThanOrEqual(restartDelayMs(n, o));
        },
      ),
    );
  });
});
