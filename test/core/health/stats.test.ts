import { describe, expect, it } from "vitest";
import fc from "fast-check";
import {
  EMPTY_STATS,
  record,
  verdict,
  type ProbeRound,
  type Thresholds,
} from "../../../src/core/health/stats.js";

const T: Thresholds = {
  quorum: 1,
  failuresBeforeDegraded: 2,
  failuresBeforeDown: 4,
  successesToRecover: 3,
  degradedRttMs: 200,
  degradedLossPct: 10,
  recoverRttMs: 150,
  recoverLossPct: 5,
  window: 20,
  rttAlpha: 0.25,
};
const okRound = (rtt = 10): ProbeRound => ({ answered: 2, asked: 2, rttsMs: [rtt, rtt] });
const failRound: ProbeRound = { answered: 0, asked: 2, rttsMs: [] };
const feed = (rounds: ProbeRound[], t = T) => rounds.reduce((s, r) => record(s, r, t), EMPTY_STATS);

describe("probe stats and verdict", () => {
  it("is unknown before any round", () => expect(verdict(EMPTY_STATS, T)).toBe("unknown"));
  it("is good only after enough consecutive successes", () => {
    expect(verdict(feed([okRound(), okRound()]), T)).toBe("unknown");
    expect(verdict(feed([okRound(), okRound(), okRound()]), T)).toBe("good");
  });
  it("turns degraded, then bad, with consecutive failures", () => {
    const base = Array.from({ length: 20 }, () => okRound());
    expect(verdict(feed([...base, failRound]), T)).toBe("unknown");
    expect(verdict(feed([...base, failRound, failRound]), T)).toBe("degraded");
    expect(verdict(feed([...base, failRound, failRound, failRound, failRound]), T)).toBe("bad");
  });
  it("calls a slow uplink degraded even when every probe answers", () => {
    expect(verdict(feed(Array.from({ length: 30 }, () => okRound(400))), T)).toBe("degraded");
  });
  it("needs the stricter recovery latency to be good again (hysteresis)", () => {
    expect(verdict(feed(Array.from({ length: 30 }, () => okRound(180))), T)).toBe("unknown");
  });
  it("counts a round as success only with the quorum of targets", () => {
    const s = feed([{ answered: 1, asked: 3, rttsMs: [5] }], { ...T, quorum: 2 });
    expect(s.consecutiveFailures).toBe(1);
  });
  it("keeps loss within 0..100 and success rate consistent with it, over any sequence", () => {
    fc.assert(
      fc.property(fc.array(fc.boolean(), { maxLength: 100 }), (outcomes) => {
        const s = feed(outcomes.map((o) => (o ? okRound() : failRound)));
        expect(s.lossPct).toBeGreaterThanOrEqual(0);
        expect(s.lossPct).toBeLessThanOrEqual(100);
        if (outcomes.length > 0) expect(s.successRate).toBeCloseTo(1 - s.lossPct / 100);
        expect(s.recent.length).toBeLessThanOrEqual(T.window);
      }),
      { numRuns: Number(process.env.FC_NUM_RUNS ?? 1000) },
    );
  });
});
