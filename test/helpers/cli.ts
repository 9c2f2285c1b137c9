// Running the real backhaul CLI from tests: the build of the sources that test/global-setup.ts makes at
// the start of every run (a start through tsx transpiles again, at about twice the CPU, and the suite
// starts the CLI hundreds of times).
import { run, type RunResult } from "../../src/effects/exec.js";

/** The compiled CLI (`npm run build`; the test run builds it first). */
export const BUILT_MAIN = new URL("../../dist/cli/main.js", import.meta.url).pathname;

/** `backhaul ARGS` from this process's namespace (a `--netns` among ARGS re-runs it inside). */
export function cli(args: readonly string[], env: Record<string, string> = {}): Promise<RunResult> {
  return run([process.execPath, BUILT_MAIN, ...args], {
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
  return run([process.execPath, BUILT_MAIN, ...args], {
    netns,
    allowFailure: true,
    timeoutMs: 30_000,
    env: { BACKHAUL_NETNS: netns, ...env },
  });
}
