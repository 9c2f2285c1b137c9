import { describe, expect, it } from "vitest";
import {
  RESTART_CAP_MS,
  RESTART_WINDOW_MS,
  restartDelayMs,
} from "../../../src/core/decide/restart-backoff.js";

describe("restarting a service that exited", () => {
  it("is at once the first time, then doubles with each exit in the window, up to the cap", () => {
    const now = 10 * RESTART_WINDOW_MS;
    const exits = (n: number) => Array.from({ length: n }, (_, i) => now - i * 1000);
    expect(restartDelayMs(exits(1), now)).toBe(0);
    expect(restartDelayMs(exits(2), now)).toBe(1000);
    expect(restartDelayMs(exits(3), now)).toBe(2000);
    expect(restartDelayMs(exits(5), now)).toBe(8000);
    expect(restartDelayMs(exits(30), now)).toBe(RESTART_CAP_MS);
  });

  it("forgets exits older than the window: a client that ran for a while restarts at once", () => {
    const now = 10 * RESTART_WINDOW_MS;
    expect(restartDelayMs([now - RESTART_WINDOW_MS - 1, now - RESTART_WINDOW_MS - 2, now], now)).toBe(0);
  });
});
