import { describe, expect, it } from "vitest";
import { fc } from "../support/fc.js";
import { formatAge, formatBytes, renderStatus } from "../../src/cli/status-view.js";
import type { DaemonStatus } from "../../src/daemon/status-model.js";
import { FIXTURE_NOW, STATUS_FIXTURE } from "../support/status-fixture.js";

const lines = (text: string) => text.split("\n");

describe("the human rendering of the daemon's status", () => {
  const text = renderStatus(STATUS_FIXTURE, FIXTURE_NOW);

  it("says which daemon, which policy, the refused edit, and the active uplink with its reason", () => {
    expect(lines(text).slice(0, 7)).toEqual([
      "backhaul daemon pid 4242, managing namespace bhl-demo, up 3h17m",
      "policy    /etc/backhaul/policy.yaml (sha256:5f2c9a0e41d7, loaded 2h ago)",
      "          an edit was refused 1m30s ago; the policy above stays in force:",
      '            /etc/backhaul/policy.yaml:14:12: error: duration "5 parsecs" is not understood',
      "active    fibre (fibre: first in preference order, up, score 92)",
      "switches  2 (health 1, preference 1)",
      "passes    last success 2m ago",
    ]);
  });

  it("has a row per uplink: state, since, score, RTT, loss, usage against budget, reason", () => {
    expect(text).toContain(
      [
        "UPLINKS (* active)",
        "     NAME    IFACE  STATE  SINCE  SCORE  RTT      LOSS  USAGE / BUDGET        REASON",
        "  *  fibre   eth0   up     5m10s  92     11.4 ms  0%    -                     probes answer: 3 of 3 targets",
        "     lte     wwan0  up     2h5m   61     48.2 ms  0.5%  1.25 GiB / 5 GiB 25%  probes answer: 2 of 2 targets",
        "     tether  usb0   down   9m     -      -        -     -                     carrier lost",
      ].join("\n"),
    );
  });

  it("lists the conditions, the last plan, the last error and the passes with their switches", () => {
    expect(text).toMatch(/\n {2}Ready +True +Converged +5m +the kernel matches the policy/);
    expect(text).toMatch(/\n {2}Stalled +True +PolicyInvalid +1m30s +the policy on disk is invalid: /);
    expect(text).toContain(
      "LAST PLAN  5m ago, 1 op\n  replace route default via 198.51.100.1 dev eth0 table 200 proto 213\n",
    );
    expect(text).toContain("LAST ERROR  6m40s ago\n  ip: RTNETLINK answers: File exists\n");
    expect(text).toContain("PASSES (last 10, newest last)");
    expect(text).toMatch(
      /\n {2}7m ago +full +18\.9 ms +applied +1 +health fibre up→degraded; switched fibre → lte \(health: fibre degraded: loss 12% over 5%\)\n/,
    );
    expect(text).toMatch(
      /\n {2}6m40s ago +full +25\.1 ms +failed +0 +policy; error: ip: RTNETLINK answers: File exists\n/,
    );
    expect(lines(text).filter((l) => / ago +(full|fast) /.test(l))).toHaveLength(10);
  });

  it("shows a daemon that just started on the host: no passes, nothing active, no usage", () => {
    const fresh: DaemonStatus = {
      ...STATUS_FIXTURE,
      netns: null,
      policy: { path: "/etc/backhaul/policy.yaml", digest: "sha256:00", loadedAt: FIXTURE_NOW.toISOString() },
      active: { uplinks: [], reason: "no pass yet" },
      uplinks: STATUS_FIXTURE.uplinks.map(({ usage: _u, score: _s, rttMs: _r, lossPct: _l, ...u }) => ({
        ...u,
        active: false,
        state: "probing" as const,
      })),
      passes: [],
      switches: { total: 0, byCause: {} },
    };
    const { lastPlan: _p, lastError: _e, lastSuccessfulPassAt: _t, ...started } = fresh;
    const t = renderStatus(started, FIXTURE_NOW);
    expect(t).toContain("managing the host");
    expect(t).toContain("active    none (no pass yet)");
    expect(t).toContain("switches  0\n");
    expect(t).toContain("passes    last success never");
    expect(t).toContain("PASSES (last 0, newest last)\n  none yet\n");
    expect(t).not.toContain("LAST PLAN");
    expect(t).not.toContain("LAST ERROR");
    expect(t).toMatch(/\n +fibre +eth0 +probing +5m10s +- /);
    expect(t).toMatch(/\n +tether +usb0 +probing \(unusable\) +9m +- /);
  });

  it("lists the services of ours: pid, the hotspot's clients, and how often one exited", () => {
    const t = renderStatus(
      {
        ...STATUS_FIXTURE,
        services: [
          {
            service: "dnsmasq",
            iface: "wlan0",
            pid: 812,
            exits: 0,
            clients: [
              { mac: "02:00:00:00:00:01", address: "100.64.50.135", expires: 0, hostname: "phone" },
              { mac: "02:00:00:00:00:02", address: "100.64.50.140", expires: 0 },
            ],
          },
          {
            service: "dhcp-client",
            iface: "usb0",
            exits: 2,
            lastExit: {
              at: new Date(FIXTURE_NOW.getTime() - 65_000).toISOString(),
              reason: "killed by SIGKILL",
            },
          },
        ],
      },
      FIXTURE_NOW,
    );
    expect(t).toContain(
      [
        "SERVICES",
        "  dnsmasq on wlan0: pid 812, 2 clients (100.64.50.135 phone, 100.64.50.140)",
        "  dhcp-client on usb0: not running",
        "    exited 2 time(s), last 1m5s ago: killed by SIGKILL",
      ].join("\n"),
    );
  });

  it("never lets a control character from the daemon reach the terminal", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 20 }), (s) => {
        const hostile: DaemonStatus = {
          ...STATUS_FIXTURE,
          active: { uplinks: [s], reason: s },
          uplinks: STATUS_FIXTURE.uplinks.map((u) => ({ ...u, name: s, iface: s, reason: s })),
          conditions: STATUS_FIXTURE.conditions.map((c) => ({ ...c, message: s, reason: s })),
          lastError: { at: FIXTURE_NOW.toISOString(), message: s },
          passes: STATUS_FIXTURE.passes.map((p) => ({ ...p, triggers: [s], error: s })),
        };
        const out = renderStatus(hostile, FIXTURE_NOW);
        // eslint-disable-next-line no-control-regex -- looking for control characters is the point
        if (/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/.test(out))
          expect(out).toBe("free of control characters");
      }),
      { numRuns: 200 },
    );
  });
});

describe("ages and sizes for people", () => {
  it("give ages in their two largest units", () => {
    expect([0, 999, 42_000, 60_000, 310_000, 3_600_000, 11_820_000, 90_061_000].map(formatAge)).toEqual([
      "0s",
      "0s",
      "42s",
      "1m",
      "5m10s",
      "1h",
      "3h17m",
      "1d1h",
    ]);
    fc.assert(
      fc.property(fc.nat(10 ** 10), (ms) => {
        expect(formatAge(ms)).toMatch(/^(\d+d(\d+h)?|\d+h(\d+m)?|\d+m(\d+s)?|\d+s)$/);
      }),
      { numRuns: 200 },
    );
  });

  it("give sizes in binary units with three significant digits", () => {
    expect([0, 512, 1024, 3_145_728, Math.round(1.25 * 1024 ** 3), 5 * 1024 ** 4].map(formatBytes)).toEqual([
      "0 B",
      "512 B",
      "1 KiB",
      "3 MiB",
      "1.25 GiB",
      "5 TiB",
    ]);
  });
});
