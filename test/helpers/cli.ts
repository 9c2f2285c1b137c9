// Running the real backhaul CLI from tests (through tsx, no build needed).
import { run, type RunResult } from "../../src/effects/exec.js";

const MAIN = new URL("../../src/cli/main.ts", import.meta.url).pathname;

/** `backhaul ARGS` from this process's namespace (a `--netns` among ARGS re-runs it inside). */
export function cli(args: readonly string[], env: Record<string, string> = {}): Promise<RunResult> {
  return run([process.execPath, "--import", "tsx", MAIN, ...args], {
    allowFailure: true,
    timeoutMs: 30_000,
    ...(Object.keys(env).length > 0 ? { env } : {}),
  });
}

/** The CLI started inside the namespace as --netns's re-exec would start it: one process instead of two. */
export function cliIn(
  netns: string,
  args: readonly string[],
  env: Record<string, string> = {},
): Promise<RunResult> {
  return run([process.execPath, "--import", "tsx", MAIN, ...args], {
    netns,
    allowFailure: true,
    timeoutMs: 30_000,
    env: { BACKHAUL_NETNS: netns, ...env },
  });
}
