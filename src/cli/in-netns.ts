// `--netns NAME` on any verb that touches the kernel: the whole verb re-runs inside that namespace
// (through `ip netns exec`, which also gives it the namespace's /sys), so observation, probes and
// writes all happen there, exactly as the daemon does when it runs inside the namespace it manages.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { constants as osConstants } from "node:os";
import { NETNS_ENV, validNetnsName } from "../effects/netns.js";

/** Splits `--netns NAME` / `--netns=NAME` out of argv. */
export function extractNetns(argv: readonly string[]): { netns?: string; rest: string[] } {
  const rest: string[] = [];
  let netns: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === "--") {
      rest.push(...argv.slice(i));
      break;
    }
    if (a === "--netns") {
      netns = argv[++i];
      if (netns === undefined) throw new Error("--netns needs a namespace name");
    } else if (a.startsWith("--netns=")) netns = a.slice("--netns=".length);
    else rest.push(a);
  }
  return netns === undefined ? { rest } : { netns, rest };
}

/**
 * Re-runs this very command inside `netns` and resolves with its exit code. Signals reach the child;
 * its output is ours.
 */
export function reexecInNetns(netns: string, userArgs: readonly string[]): Promise<number> {
  if (!validNetnsName(netns))
    return Promise.reject(new Error(`--netns ${JSON.stringify(netns)}: not a network namespace name`));
  if (!existsSync(`/run/netns/${netns}`))
    return Promise.reject(new Error(`network namespace ${netns} does not exist (see \`ip netns list\`)`));
  const script = process.argv[1];
  if (script === undefined) return Promise.reject(new Error("cannot find the backhaul script to re-run"));
  const child = spawn(
    "ip",
    ["netns", "exec", netns, process.execPath, ...process.execArgv, script, ...userArgs],
    {
      stdio: "inherit",
      env: { ...process.env, [NETNS_ENV]: netns },
    },
  );
  const forward = (sig: NodeJS.Signals) => child.kill(sig);
  process.on("SIGINT", forward).on("SIGTERM", forward);
  return new Promise((resolve, reject) => {
    child.once("error", (e) =>
      reject(
        (e as NodeJS.ErrnoException).code === "ENOENT" ? new Error("ip was not found: install iproute2") : e,
      ),
    );
    child.once("exit", (code, signal) => {
      process.off("SIGINT", forward).off("SIGTERM", forward);
      resolve(code ?? (signal ? 128 + (osConstants.signals[signal] ?? 1) : 1));
    });
  });
}
