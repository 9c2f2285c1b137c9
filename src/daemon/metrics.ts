// The daemon's Prometheus metrics, in a registry of its own (never prom-client's global one), and the
// HTTP endpoint that serves them. Gauges follow the status snapshot (update()); counters and the pass
// histogram follow the passes (recordPass()) and policy reloads (recordReload()). See docs/status.md.
import { DRIFT_CLASSES, type DriftClass } from "../core/drift.js";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { HealthState } from "../core/health/state-machine.js";
import { splitHostPort } from "../policy/values.js";
import type { ConditionType, DaemonStatus, PassOutcome, PassRecord, SwitchCause } from "./status-model.js";

const HEALTH_STATES: readonly HealthState[] = ["probing", "up", "degraded", "down"];
const CAUSES: readonly SwitchCause[] = [
  "physical",
  "health",
  "preference",
  "budget",
  "policy",
  "none-usable",
  "start",
];
const OUTCOMES: readonly PassOutcome[] = ["no-change", "applied", "rolled-back", "rollback-failed", "failed"];
const CONDITIONS: readonly ConditionType[] = ["Ready", "Reconciling", "Stalled"];
const CONDITION_STATUSES = ["True", "False", "Unknown"] as const;

/** Around the 15 ms failover target on the fast path, up to slow full passes on a busy node. */
const PASS_BUCKETS = [0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

const ms = (x: number): number => x / 1000;
const epochSeconds = (iso: string): number => Date.parse(iso) / 1000;

export class DaemonMetrics {
  readonly registry = new Registry();

  private readonly uplinkState: Gauge<"uplink" | "state">;
  private readonly uplinkActive: Gauge<"uplink">;
  private readonly uplinkUsable: Gauge<"uplink">;
  private readonly uplinkScore: Gauge<"uplink">;
  private readonly uplinkRtt: Gauge<"uplink">;
  private readonly uplinkLoss: Gauge<"uplink">;
  private readonly usageBytes: Gauge<"uplink">;
  private readonly probeBytes: Gauge<"uplink">;
  private readonly budgetBytes: Gauge<"uplink">;
  private readonly condition: Gauge<"type" | "status">;
  private readonly policyRejected: Gauge;
  private readonly lastSuccess: Gauge;
  private readonly drift: Gauge;
  private readonly driftByClass: Gauge<"class">;
  private readonly driftHealed: Counter;
  private readonly serviceExits: Counter<"service" | "iface">;
  private readonly cacheMismatches: Counter<"kind">;
  private readonly hotspotUp: Gauge<"iface">;
  private readonly hotspotServing: Gauge<"iface">;
  private readonly hotspotClients: Gauge<"iface">;
  private readonly hotspotPassphraseAge: Gauge<"iface">;
  private readonly switches: Counter<"cause">;
  private readonly planOps: Counter;
  private readonly passes: Counter<"outcome">;
  private readonly reloads: Counter<"result">;
  private readonly passDuration: Histogram<"path">;

  constructor() {
    const registers = [this.registry];
    const perUplink = (name: string, help: string) =>
      new Gauge({ name: `backhaul_uplink_${name}`, help, labelNames: ["uplink"] as const, registers });
    this.uplinkState = new Gauge({
      name: "backhaul_uplink_state",
      help: "Health state of each uplink: 1 for the state it is in, 0 for the others.",
      labelNames: ["uplink", "state"] as const,
      registers,
    });
    this.uplinkActive = perUplink("active", "1 when the uplink carries general traffic.");
    this.uplinkUsable = perUplink(
      "usable",
      "1 when the uplink may be chosen (healthy, present, within budget).",
    );
    this.uplinkScore = perUplink("score", "Selection score of the uplink (higher is better).");
    this.uplinkRtt = perUplink("rtt_seconds", "Smoothed probe round-trip time through the uplink.");
    this.uplinkLoss = perUplink("loss_ratio", "Probe loss over the sliding window, 0 to 1.");
    this.usageBytes = perUplink(
      "usage_bytes",
      "Bytes used on a metered uplink in its current budget period.",
    );
    this.probeBytes = perUplink(
      "probe_bytes",
      "Bytes of the daemon's own probes in the budget period (part of usage).",
    );
    this.budgetBytes = perUplink("budget_bytes", "Data budget of a metered uplink for its period.");
    this.condition = new Gauge({
      name: "backhaul_condition",
      help: "Daemon conditions (Ready, Reconciling, Stalled): 1 for the status each is in, 0 for the others.",
      labelNames: ["type", "status"] as const,
      registers,
    });
    this.policyRejected = new Gauge({
      name: "backhaul_policy_rejected",
      help: "1 while the policy on disk is invalid and the last good policy stays in force.",
      registers,
    });
    this.lastSuccess = new Gauge({
      name: "backhaul_last_successful_pass_timestamp_seconds",
      help: "When the last pass that succeeded started (Unix time).",
      registers,
    });
    this.drift = new Gauge({
      name: "backhaul_drift_objects",
      help: "Owned kernel objects that differed from the desired state at the last observation.",
      registers,
    });
    this.driftByClass = new Gauge({
      name: "backhaul_drift_by_class",
      help: "Drift found at the last observation, by class (missing, changed, extra, conflict).",
      labelNames: ["class"] as const,
      registers,
    });
    this.driftHealed = new Counter({
      name: "backhaul_drift_healed_total",
      help: "Drifted objects of ours the daemon put back.",
      registers,
    });
    const perHotspot = (name: string, help: string) =>
      new Gauge({ name: `backhaul_hotspot_${name}`, help, labelNames: ["iface"] as const, registers });
    this.hotspotUp = perHotspot("up", "1 while the hotspot is up (its activation decided so), 0 while down.");
    this.hotspotServing = perHotspot("serving", "1 while our access point serves (hostapd ENABLED).");
    this.hotspotClients = perHotspot("clients", "Hotspot clients holding a lease from our DHCP server.");
    this.hotspotPassphraseAge = perHotspot(
      "passphrase_age_seconds",
      "Seconds since the hotspot's passphrase was set (absent for an open hotspot).",
    );
    this.serviceExits = new Counter({
      name: "backhaul_service_exits_total",
      help: "Exits of backhaul's own service processes (each is started again by the next pass)",
      labelNames: ["service", "iface"] as const,
      registers,
    });
    this.cacheMismatches = new Counter({
      name: "backhaul_observe_cache_mismatch_total",
      help: "Objects on which a resync found the observed-state cache and the kernel disagreeing, by kind (should stay 0).",
      labelNames: ["kind"] as const,
      registers,
    });
    this.switches = new Counter({
      name: "backhaul_switches_total",
      help: "Changes of the active uplink, by cause.",
      labelNames: ["cause"] as const,
      registers,
    });
    this.planOps = new Counter({
      name: "backhaul_plan_ops_total",
      help: "Kernel operations in the plans the daemon executed.",
      registers,
    });
    this.passes = new Counter({
      name: "backhaul_passes_total",
      help: "Reconcile passes, by outcome.",
      labelNames: ["outcome"] as const,
      registers,
    });
    this.reloads = new Counter({
      name: "backhaul_policy_reloads_total",
      help: "Policy reloads after a change on disk, by result (ok, failed).",
      labelNames: ["result"] as const,
      registers,
    });
    this.passDuration = new Histogram({
      name: "backhaul_pass_duration_seconds",
      help: "Duration of reconcile passes, by path (full, or fast for carrier loss).",
      labelNames: ["path"] as const,
      buckets: PASS_BUCKETS,
      registers,
    });
    // Every series with a known label set exists from the start, so rate() and alerts see a 0 first.
    for (const cause of CAUSES) this.switches.labels(cause).inc(0);
    for (const outcome of OUTCOMES) this.passes.labels(outcome).inc(0);
    for (const result of ["ok", "failed"]) this.reloads.labels(result).inc(0);
    for (const path of ["full", "fast"]) this.passDuration.zero({ path });
  }

  /** The gauges from a snapshot; uplinks gone from it lose their series. */
  update(status: DaemonStatus): void {
    for (const g of [
      this.uplinkState,
      this.uplinkActive,
      this.uplinkUsable,
      this.uplinkScore,
      this.uplinkRtt,
      this.uplinkLoss,
      this.usageBytes,
      this.probeBytes,
      this.budgetBytes,
    ])
      g.reset();
    for (const u of status.uplinks) {
      for (const s of HEALTH_STATES)
        this.uplinkState.set({ uplink: u.name, state: s }, u.state === s ? 1 : 0);
      this.uplinkActive.set({ uplink: u.name }, u.active ? 1 : 0);
      this.uplinkUsable.set({ uplink: u.name }, u.usable ? 1 : 0);
      if (u.score !== undefined) this.uplinkScore.set({ uplink: u.name }, u.score);
      if (u.rttMs !== undefined) this.uplinkRtt.set({ uplink: u.name }, ms(u.rttMs));
      if (u.lossPct !== undefined) this.uplinkLoss.set({ uplink: u.name }, u.lossPct / 100);
      if (u.usage !== undefined) {
        this.usageBytes.set({ uplink: u.name }, u.usage.usedBytes);
        this.probeBytes.set({ uplink: u.name }, u.usage.probeBytes);
        this.budgetBytes.set({ uplink: u.name }, u.usage.budgetBytes);
      }
    }
    this.condition.reset();
    for (const type of CONDITIONS) {
      const c = status.conditions.find((x) => x.type === type);
      for (const s of CONDITION_STATUSES)
        this.condition.set({ type, status: s }, (c?.status ?? "Unknown") === s ? 1 : 0);
    }
    for (const g of [this.hotspotUp, this.hotspotServing, this.hotspotClients, this.hotspotPassphraseAge])
      g.reset();
    const h = status.hotspot;
    if (h !== undefined) {
      this.hotspotUp.set({ iface: h.iface }, h.up ? 1 : 0);
      this.hotspotServing.set({ iface: h.iface }, h.serving ? 1 : 0);
      this.hotspotClients.set({ iface: h.iface }, h.clients);
      if (h.passphrase?.ageSeconds !== undefined)
        this.hotspotPassphraseAge.set({ iface: h.iface }, h.passphrase.ageSeconds);
    }
    this.policyRejected.set(status.policy.rejected !== undefined ? 1 : 0);
    if (status.lastSuccessfulPassAt !== undefined)
      this.lastSuccess.set(epochSeconds(status.lastSuccessfulPassAt));
  }

  /** One finished pass: its outcome, duration, ops, and the switch it made if any. */
  recordPass(pass: PassRecord): void {
    this.passes.labels(pass.outcome).inc();
    this.passDuration.labels(pass.path).observe(ms(pass.durationMs));
    this.planOps.inc(pass.ops);
    if (pass.switched !== undefined) this.switches.labels(pass.switched.cause).inc();
    if (pass.healed !== undefined) this.driftHealed.inc(pass.healed);
  }

  /** A service process of ours exited (and is restarted). */
  recordServiceExit(service: string, iface: string): void {
    this.serviceExits.labels(service, iface).inc();
  }

  /** A resync found the cache wrong about one object of this kind. */
  recordCacheMismatch(kind: string): void {
    this.cacheMismatches.labels(kind).inc();
  }

  /** A policy change on disk was loaded (ok) or refused (the last good one stays). */
  recordReload(ok: boolean): void {
    this.reloads.labels(ok ? "ok" : "failed").inc();
  }

  /** Owned objects that differed from the desired state at the last observation, and by class. */
  setDrift(objects: number, byClass: Partial<Record<DriftClass, number>> = {}): void {
    this.drift.set(objects);
    for (const c of DRIFT_CLASSES) this.driftByClass.labels(c).set(byClass[c] ?? 0);
  }

  /** The text exposition format, and its content type. */
  async exposition(): Promise<{ readonly contentType: string; readonly body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}

export interface MetricsServer {
  /** Where it listens (the port the kernel chose when asked for 0). */
  readonly address: { readonly host: string; readonly port: number };
  close(): Promise<void>;
}

/**
 * Serves GET /metrics on `listen` (`host:port` or `[v6]:port`, as policy.daemon.metricsListen; port 0
 * picks a free one); anything else is 404.
 */
export async function serveMetrics(listen: string, metrics: DaemonMetrics): Promise<MetricsServer> {
  const { host, port } = splitHostPort(listen);
  const server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (path !== "/metrics" || (req.method !== "GET" && req.method !== "HEAD")) {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found: ask GET /metrics\n");
      return;
    }
    metrics.exposition().then(
      ({ contentType, body }) => {
        res.writeHead(200, { "content-type": contentType });
        res.end(req.method === "HEAD" ? undefined : body);
      },
      (e: unknown) => {
        res
          .writeHead(500, { "content-type": "text/plain" })
          .end(`${e instanceof Error ? e.message : String(e)}\n`);
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (e: NodeJS.ErrnoException) =>
      reject(
        new Error(
          `metrics: cannot listen on ${listen}: ${e.code === "EADDRINUSE" ? "the address is in use" : e.code === "EADDRNOTAVAIL" ? "no interface has that address" : e.message}`,
        ),
      ),
    );
    server.listen(port, host, () => resolve());
  });
  const bound = server.address() as AddressInfo;
  return {
    address: { host, port: bound.port },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
