// `backhaul status`: what the running daemon does and why, read from its status socket (only root may
// open it). One snapshot, or --watch for each change until interrupted. See docs/status.md.
import type { Command } from "commander";
import { fetchStatus, NoDaemonError, watchStatus } from "../../daemon/status-client.js";
import { readdirSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { namespacesWithSockets, statusSocketPath } from "../../daemon/status-server.js";
import { DEFAULT_POLICY_PATH, loadPolicy } from "../../policy/load.js";
import { formatHuman } from "../diagnostics.js";
import { EXIT } from "../exit.js";
import { currentNetns } from "../../effects/netns.js";
import { renderStatus } from "../status-view.js";

export interface StatusOptions {
  readonly json?: boolean;
  readonly watch?: boolean;
  readonly socket?: string;
}

/** Clears the terminal and puts the cursor home, so each snapshot redraws the screen. */
const CLEAR = "\u001b[H\u001b[2J";

/** The daemon's socket, how to name that daemon in messages, and where to look for others. */
async function locate(
  policyPath: string,
  opts: StatusOptions,
): Promise<{ socket: string; whose: string; policySocket?: string }> {
  if (opts.socket !== undefined) return { socket: opts.socket, whose: opts.socket };
  const loaded = await loadPolicy(policyPath);
  if (!loaded.ok) {
    process.stderr.write(formatHuman(loaded.diagnostics, loaded.texts, false));
    throw new Error(
      `${policyPath}: invalid policy, so the daemon's socket is unknown; name it with --socket PATH`,
    );
  }
  const netns = currentNetns();
  return {
    socket: statusSocketPath(loaded.policy.daemon.statusSocket, netns),
    whose: `${policyPath}${netns !== undefined ? ` in namespace ${netns}` : ""}`,
    policySocket: loaded.policy.daemon.statusSocket,
  };
}

/** Daemons of this policy that run in other namespaces: a daemon in namespace N serves `status.N.sock`. */
function elsewhere(policyPath: string, policySocket: string, socket: string): string {
  let names: string[];
  try {
    names = readdirSync(dirname(policySocket)).filter((n) => join(dirname(policySocket), n) !== socket);
  } catch {
    return "";
  }
  const found = namespacesWithSockets(policySocket, names).filter((ns) => {
    try {
      return statSync(statusSocketPath(policySocket, ns)).isSocket();
    } catch {
      return false;
    }
  });
  if (found.length === 0) return "";
  return `; daemons of this policy serve namespace ${found.join(", ")}: \`backhaul status ${policyPath} --netns ${found[0]}\``;
}

async function watch(socket: string, json: boolean): Promise<number> {
  const tty = process.stdout.isTTY === true;
  let interrupted = false;
  const w = await watchStatus(socket, (status, line) => {
    if (json) process.stdout.write(`${line}\n`);
    else
      process.stdout.write(
        tty ? CLEAR + renderStatus(status, new Date()) : `${renderStatus(status, new Date())}\n`,
      );
  });
  const stop = (): void => {
    interrupted = true;
    w.stop();
  };
  // A reader that goes away (`| head`) ends the watch like an interrupt.
  const onStdoutError = (e: NodeJS.ErrnoException): void => {
    if (e.code === "EPIPE") stop();
  };
  process.once("SIGINT", stop).once("SIGTERM", stop);
  process.stdout.on("error", onStdoutError);
  try {
    await w.done;
  } finally {
    process.off("SIGINT", stop).off("SIGTERM", stop);
    process.stdout.off("error", onStdoutError);
  }
  if (interrupted) return EXIT.ok;
  process.stderr.write(`backhaul: the daemon ended the status stream on ${socket} (it stopped)\n`);
  return EXIT.error;
}

export async function statusCommand(policyPath: string, opts: StatusOptions): Promise<number> {
  const { socket, whose, policySocket } = await locate(policyPath, opts);
  try {
    if (opts.watch === true) return await watch(socket, opts.json === true);
    const status = await fetchStatus(socket);
    process.stdout.write(
      opts.json === true ? `${JSON.stringify(status, null, 2)}\n` : renderStatus(status, new Date()),
    );
    return EXIT.ok;
  } catch (e) {
    if (!(e instanceof NoDaemonError)) throw e;
    process.stderr.write(
      `backhaul: no daemon is running for ${whose}: nothing answers on ${socket}` +
        ((policySocket !== undefined && elsewhere(policyPath, policySocket, socket)) ||
          ": start it with `backhaul run`") +
        "\n",
    );
    return EXIT.error;
  }
}

export function registerStatus(program: Command): void {
  program
    .command("status")
    .description("Show what the running daemon does and why: active uplink, health, conditions, last passes")
    .argument(
      "[policy]",
      "the daemon's policy file or directory (it names the status socket)",
      DEFAULT_POLICY_PATH,
    )
    .option("--json", "print the daemon's status document (with --watch: one JSON document per line)")
    .option("--watch", "print each new snapshot until interrupted")
    .option("--socket <path>", "the daemon's status socket, instead of the one the policy names")
    .action(async (policy: string, opts: StatusOptions) => {
      process.exitCode = await statusCommand(policy, opts);
    });
}
