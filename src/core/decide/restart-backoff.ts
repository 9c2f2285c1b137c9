// How long to wait before restarting a service of ours that exited: at once the first time, then
// doubling with each exit inside the window (1 s, 2 s, 4 s ... up to the cap), so a client that dies
// right after every start does not spin the node, and one that ran for a while restarts at once.

export const RESTART_WINDOW_MS = 5 * 60_000;
export const RESTART_CAP_MS = 60_000;

/** The delay before the next restart, given the times of the service's exits (newest included). */
export function restartDelayMs(exits: readonly number[], now: number): number {
  const recent = exits.filter((t) => now - t < RESTART_WINDOW_MS).length;
  if (recent <= 1) return 0;
  return Math.min(RESTART_CAP_MS, 1000 * 2 ** (recent - 2));
}
