// Health for offline previews (`plan --assume-health up|down:NAME,...`), where no prober runs.
import type { Health } from "./types.js";

/**
 * An assumed "up" is a perfect probe result (no RTT, no loss, every probe answered), so the uplink scores
 * its full weights plus its bias; an assumed "down" scores nothing.
 */
export function assumedHealth(state: "up" | "down", now: number): Health {
  return state === "up"
    ? { state: "up", since: now, rttMs: 0, lossPct: 0, successRate: 1, reason: "assumed" }
    : { state: "down", since: now, reason: "assumed" };
}
