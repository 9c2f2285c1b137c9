import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Scheduler, type PassOutcome, type PassRequest } from "../../src/daemon/scheduler.js";

const opts = {
  periodMs: 10_000,
  periodJitter: 0.1,
  backoffInitialMs: 50,
  backoffMaxMs: 5_000,
  random: () => 0.5,
};

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

function recorder(outcomes: PassOutcome[] = [], durationMs = 0) {
  const calls: { at: number; reasons: readonly string[] }[] = [];
  const pass = async (req: PassRequest): Promise<PassOutcome> => {
    calls.push({ at: Date.now(), reasons: req.reasons });
    if (durationMs > 0) await new Promise((r) => setTimeout(r, durationMs));
    return outcomes.shift() ?? { ok: true };
  };
  return { calls, pass };
}

describe("the pass scheduler", () => {
  it("runs a pass at once for a trigger, then the periodic pass with its jitter", async () => {
    const { calls, pass } = recorder();
    const s = new Scheduler(pass, opts);
    const t0 = Date.now();
    s.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(calls).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(10_499);
    expect(calls).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(calls).toHaveLength(2);
    expect(calls[1]).toEqual({ at: t0 + 10_500, reasons: ["periodic"] });
    await s.stop();
  });

  it("coalesces triggers that arrive during a pass into one follow-up pass", async () => {
    const { calls, pass } = recorder([], 100);
    const s = new Scheduler(pass, opts);
    s.trigger("link eth0");
    await vi.advanceTimersByTimeAsync(10);
    s.trigger("link wwan0");
    s.trigger("policy changed");
    await vi.advanceTimersByTimeAsync(300);
    expect(calls.map((c) => c.reasons)).toEqual([["link eth0"], ["link wwan0", "policy changed"]]);
    await s.stop();
  });

  it("retries a failed pass with exponential backoff up to the cap, and resets after success", async () => {
    const fail = { ok: false, error: new Error("boom") } as const;
    const { calls, pass } = recorder([fail, fail, fail, fail, fail, fail, fail, fail]);
    const s = new Scheduler(pass, opts);
    s.start();
    await vi.advanceTimersByTimeAsync(20_000);
    const gaps = calls.slice(1, 10).map((c, i) => c.at - (calls[i]?.at ?? 0));
    expect(gaps.slice(0, 8)).toEqual([50, 100, 200, 400, 800, 1600, 3200, 5000]);
    expect(s.backoffMs(30)).toBe(5_000);
    await s.stop();
  });

  it("treats a pass that throws as failed", async () => {
    let n = 0;
    const s = new Scheduler(async () => {
      n++;
      throw new Error("observe failed");
    }, opts);
    s.start();
    await vi.advanceTimersByTimeAsync(100);
    expect(n).toBe(2);
    await s.stop();
  });

  it("stops after the pass in flight and runs nothing more", async () => {
    const { calls, pass } = recorder([], 100);
    const s = new Scheduler(pass, opts);
    s.start();
    await vi.advanceTimersByTimeAsync(10);
    const stopped = s.stop();
    s.trigger("late");
    await vi.advanceTimersByTimeAsync(100_000);
    await stopped;
    expect(calls).toHaveLength(1);
  });
});
