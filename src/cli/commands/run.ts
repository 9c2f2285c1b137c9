// `backhaul run`: the daemon. Loads the policy (a bad one is refused before anything starts), takes the
// writer lock, recovers an unfinished apply, then reconciles until SIGTERM/SIGINT. See docs/run.md.
import type { Command } from "commander";
import { pino, type Logger } from "pino";
import { Daemon, loadOrErrors } from "../../daemon/daemon.js";
import { DaemonMetrics, serveMetrics } from "../../daemon/metrics.js";
import { summarizeDrift } from "../../core/drift.js";
import { serveStatus, statusSocketPath, type StatusServer } from "../../daemon/status-server.js";
import { SystemdNotifier } from "../../daemon/systemd.js";
import { followPolicy } from "../../daemon/policy-watch.js";
import { DEFAULT_POLICY_PATH } from "../../policy/load.js";
import { EXIT } from "../exit.js";
import { currentNetns } from "../../effects/netns.js";

export interface RunOptions {
  readonly cleanupOnExit?: boolean;
}

/**
 * The first SIGTERM or SIGINT. The listeners stay for the process's life: a second signal while the
 * pass in flight finishes must not kill the process half-way (it is reported instead).
 */
function waitForSignal(onRepeat: (s: NodeJS.Signals) => void): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    let first: NodeJS.Signals | undefined;
    const on = (s: NodeJS.Signals) => {
      if (first !== undefined) return onRepeat(s);
      first = s;
      resolve(s);
    };
    process.on("SIGTERM", on);
    process.on("SIGINT", on);
  });
}

export async function runDaemon(path: string, o: RunOptions): Promise<number> {
  const first = await loadOrErrors(path);
  if (!first.ok) {
    process.stderr.write(
      `backhaul run: ${path}: invalid policy, not started\n  ${first.errors.join("\n  ")}\n`,
    );
    return EXIT.error;
  }
  const log: Logger = pino({
    level: first.policy.daemon.logLevel,
    base: { pid: process.pid, netns: currentNetns() ?? null },
  });
  const systemd = new SystemdNotifier();
  // Under systemd's watchdog a healthy pass must come well within WatchdogSec, even when all is quiet.
  const periodCapMs = systemd.watchdogMs === undefined ? undefined : Math.floor(systemd.watchdogMs / 3);
  const daemon = new Daemon(
    { policyPath: path, netns: currentNetns(), log, ...(periodCapMs === undefined ? {} : { periodCapMs }) },
    first.policy,
  );
  const signal = waitForSignal((s) => log.warn({ signal: s }, "already stopping"));
  try {
    await daemon.start();
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    log.fatal({ err: e }, `not started: ${message}`);
    process.stderr.write(`backhaul run: ${message}\n`);
    return EXIT.error;
  }
  const policy = first.policy;
  let status: StatusServer;
  try {
    status = await serveStatus(
      statusSocketPath(policy.daemon.statusSocket, currentNetns()),
      () => daemon.snapshot(),
      { pass: (reason) => daemon.passNow(reason) },
    );
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    log.fatal({ err: e }, `not started: ${message}`);
    process.stderr.write(`backhaul run: ${message}\n`);
    await daemon.stop();
    return EXIT.error;
  }
  const metrics = new DaemonMetrics();
  // Metrics are for people; a taken port must not keep the node offline: said loudly, not fatal.
  const metricsServer = await serveMetrics(policy.daemon.metricsListen, metrics).catch((e: unknown) => {
    log.error({ err: e }, `metrics are not served on ${policy.daemon.metricsListen}: ${String(e)}`);
    return undefined;
  });
  const notify = (what: Promise<boolean>) =>
    void what.catch((e: unknown) => log.warn({ err: e }, `systemd notification failed: ${String(e)}`));
  let ready = false;
  daemon.onChange(() => status.notify());
  daemon.onServiceExit((x) => metrics.recordServiceExit(x.service, x.iface));
  daemon.onCacheMismatch((m) => metrics.recordCacheMismatch(m.kind));
  daemon.onPass((r) => {
    const snap = daemon.snapshot();
    metrics.recordPass(r.record);
    const drift = summarizeDrift(daemon.drift);
    metrics.setDrift(drift.total, drift);
    metrics.update(snap);
    const summary = `active: ${snap.active.uplinks.join("+") || "none"}; ${snap.uplinks.filter((u) => u.state === "up").length}/${snap.uplinks.length} uplinks up`;
    if (!ready) {
      ready = true;
      notify(systemd.ready(summary));
    } else notify(systemd.status(summary));
    // The watchdog hears from a healthy loop only: a stuck or failing one gets restarted.
    if (r.record.outcome === "no-change" || r.record.outcome === "applied") notify(systemd.healthyPass());
  });
  const watch = await followPolicy(path, {
    accept: (policy) => {
      metrics.recordReload(true);
      if (daemon.replacePolicy(policy)) log.info({ digest: daemon.policy.digest }, "policy reloaded");
    },
    refuse: (errors) => {
      metrics.recordReload(false);
      daemon.rejectPolicy(errors);
      log.error(
        { errors },
        `policy edit refused, the last good policy stays in force:\n  ${errors.join("\n  ")}`,
      );
    },
  });
  log.info({ policy: path, digest: daemon.policy.digest }, "backhaul run: started");
  const s = await signal;
  log.info({ signal: s }, "stopping: finishing the pass in flight");
  notify(systemd.stopping());
  await watch.close();
  const cleaned = await daemon.stop({ cleanup: o.cleanupOnExit === true });
  await status.close();
  await metricsServer?.close();
  if (cleaned !== undefined && cleaned.outcome !== "applied") {
    log.error({ outcome: cleaned.outcome, reason: cleaned.reason }, "cleanup failed");
    return EXIT.error;
  }
  if (o.cleanupOnExit)
    log.info({ ops: cleaned?.ops ?? 0 }, "removed backhaul's rules, routes, qdiscs and nft table");
  log.info("stopped");
  return EXIT.ok;
}

export function registerRun(program: Command): void {
  program
    .command("run")
    .description("Run the reconciler: probe uplinks, fail over, apply the policy continuously")
    .argument("[policy]", "policy file or directory", DEFAULT_POLICY_PATH)
    .option("--cleanup-on-exit", "remove backhaul's rules, routes, qdiscs and nft table when stopping")
    .option("--netns <name>", "run inside this network namespace (manage it)")
    .action(async (path: string, o: RunOptions) => {
      process.exitCode = await runDaemon(path, o);
    });
}
