// A realistic daemon snapshot: three uplinks (fibre active, a metered LTE modem with a budget in use,
// a USB tether that lost its carrier), a switch back to fibre after a gray failure, a refused policy
// edit, and the last 10 passes of both paths.
import type { DaemonStatus, PassRecord } from "../../src/daemon/status-model.js";

/** The moment the fixture was taken: relative times in renderings count from here. */
export const FIXTURE_NOW = new Date("2026-11-23T15:00:00.000Z");

const at = (secondsAgo: number): string => new Date(FIXTURE_NOW.getTime() - secondsAgo * 1000).toISOString();

const GiB = 1024 ** 3;

const periodic = (secondsAgo: number, durationMs: number): PassRecord => ({
  startedAt: at(secondsAgo),
  durationMs,
  triggers: ["periodic"],
  path: "full",
  outcome: "no-change",
  ops: 0,
});

export const PASSES: readonly PassRecord[] = [
  periodic(600, 11.2),
  {
    startedAt: at(540),
    durationMs: 6.8,
    triggers: ["link usb0"],
    path: "fast",
    outcome: "applied",
    ops: 2,
  },
  periodic(480, 10.4),
  {
    startedAt: at(420),
    durationMs: 18.9,
    triggers: ["health fibre up→degraded"],
    path: "full",
    outcome: "applied",
    ops: 1,
    switched: { from: ["fibre"], to: ["lte"], cause: "health", reason: "fibre degraded: loss 12% over 5%" },
  },
  {
    startedAt: at(400),
    durationMs: 25.1,
    triggers: ["policy"],
    path: "full",
    outcome: "failed",
    ops: 0,
    error: "ip: RTNETLINK answers: File exists",
  },
  periodic(360, 9.9),
  {
    startedAt: at(300),
    durationMs: 17.3,
    triggers: ["health fibre probing→up"],
    path: "full",
    outcome: "applied",
    ops: 1,
    switched: {
      from: ["lte"],
      to: ["fibre"],
      cause: "preference",
      reason: "fibre up again, score 92 beats lte 61 by more than the margin",
    },
  },
  periodic(240, 10.1),
  periodic(180, 10.6),
  periodic(120, 9.7),
];

export const STATUS_FIXTURE: DaemonStatus = {
  formatVersion: "1.0",
  pid: 4242,
  startedAt: at(3 * 3600 + 17 * 60),
  netns: "bhl-demo",
  policy: {
    path: "/etc/backhaul/policy.yaml",
    digest: "sha256:5f2c9a0e41d7b3c86a1f0e9d2b4c6a8e0f1d3b5c7a9e2f4d6b8c0a1e3f5d7b9c",
    loadedAt: at(2 * 3600),
    rejected: {
      at: at(90),
      errors: ['/etc/backhaul/policy.yaml:14:12: error: duration "5 parsecs" is not understood'],
    },
  },
  active: { uplinks: ["fibre"], reason: "fibre: first in preference order, up, score 92" },
  uplinks: [
    {
      name: "fibre",
      iface: "eth0",
      state: "up",
      since: at(310),
      reason: "probes answer: 3 of 3 targets",
      active: true,
      usable: true,
      score: 92,
      rttMs: 11.4,
      lossPct: 0,
    },
    {
      name: "lte",
      iface: "wwan0",
      state: "up",
      since: at(2 * 3600 + 5 * 60),
      reason: "probes answer: 2 of 2 targets",
      active: false,
      usable: true,
      score: 61,
      rttMs: 48.2,
      lossPct: 0.5,
      usage: {
        usedBytes: Math.round(1.25 * GiB),
        budgetBytes: 5 * GiB,
        probeBytes: 3_145_728,
        periodStart: "2026-11-01T00:00:00.000Z",
        periodEnd: "2026-12-01T00:00:00.000Z",
        exhausted: false,
      },
    },
    {
      name: "tether",
      iface: "usb0",
      state: "down",
      since: at(540),
      reason: "carrier lost",
      active: false,
      usable: false,
    },
  ],
  conditions: [
    {
      type: "Ready",
      status: "True",
      reason: "Converged",
      message:
        "the kernel matches the policy; an edit of the policy was refused, the last good policy stays in force",
      lastTransitionTime: at(300),
    },
    {
      type: "Reconciling",
      status: "False",
      reason: "Idle",
      message: "waiting for the next trigger",
      lastTransitionTime: at(300),
    },
    {
      type: "Stalled",
      status: "True",
      reason: "PolicyInvalid",
      message:
        'the policy on disk is invalid: /etc/backhaul/policy.yaml:14:12: error: duration "5 parsecs" is not understood; the last good policy stays in force until the file is fixed',
      lastTransitionTime: at(90),
    },
  ],
  lastPlan: {
    at: at(300),
    ops: ["replace route default via 198.51.100.1 dev eth0 table 200 proto 213"],
  },
  lastError: { at: at(400), message: "ip: RTNETLINK answers: File exists" },
  passes: PASSES,
  switches: { total: 2, byCause: { health: 1, preference: 1 } },
  lastSuccessfulPassAt: at(120),
};
