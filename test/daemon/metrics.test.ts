import { readFileSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { DaemonMetrics, serveMetrics, type MetricsServer } from "../../src/daemon/metrics.js";
import { splitHostPort } from "../../src/policy/values.js";
import { PASSES, STATUS_FIXTURE } from "../support/status-fixture.js";

let server: MetricsServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

/** The value of one sample in an exposition, by its exact series text. */
function sample(body: string, series: string): number | undefined {
  const line = body.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

async function scrape(
  metrics: DaemonMetrics,
): Promise<{ status: number; type: string | null; body: string }> {
  server = await serveMetrics("127.0.0.1:0", metrics);
  const res = await fetch(`http://127.0.0.1:${server.address.port}/metrics`);
  return { status: res.status, type: res.headers.get("content-type"), body: await res.text() };
}

describe("daemon metrics", () => {
  it("expose the snapshot's uplinks, conditions and policy state over HTTP", async () => {
    const m = new DaemonMetrics();
    m.update(STATUS_FIXTURE);
    const { status, type, body } = await scrape(m);
    expect(status).toBe(200);
    expect(type).toContain("text/plain");
    expect(type).toContain("version=0.0.4");

    expect(sample(body, 'backhaul_uplink_state{uplink="fibre",state="up"}')).toBe(1);
    expect(sample(body, 'backhaul_uplink_state{uplink="fibre",state="down"}')).toBe(0);
    expect(sample(body, 'backhaul_uplink_state{uplink="tether",state="down"}')).toBe(1);
    expect(sample(body, 'backhaul_uplink_active{uplink="fibre"}')).toBe(1);
    expect(sample(body, 'backhaul_uplink_active{uplink="lte"}')).toBe(0);
    expect(sample(body, 'backhaul_uplink_usable{uplink="tether"}')).toBe(0);
    expect(sample(body, 'backhaul_uplink_score{uplink="lte"}')).toBe(61);
    expect(sample(body, 'backhaul_uplink_rtt_seconds{uplink="fibre"}')).toBeCloseTo(0.0114, 6);
    expect(sample(body, 'backhaul_uplink_loss_ratio{uplink="lte"}')).toBeCloseTo(0.005, 6);
    expect(sample(body, 'backhaul_uplink_usage_bytes{uplink="lte"}')).toBe(Math.round(1.25 * 1024 ** 3));
    expect(sample(body, 'backhaul_uplink_budget_bytes{uplink="lte"}')).toBe(5 * 1024 ** 3);
    expect(sample(body, 'backhaul_uplink_probe_bytes{uplink="lte"}')).toBe(3_145_728);
    // Nothing measured, nothing metered: no series rather than a made-up zero.
    expect(sample(body, 'backhaul_uplink_rtt_seconds{uplink="tether"}')).toBeUndefined();
    expect(sample(body, 'backhaul_uplink_budget_bytes{uplink="fibre"}')).toBeUndefined();

    expect(sample(body, 'backhaul_condition{type="Ready",status="True"}')).toBe(1);
    expect(sample(body, 'backhaul_condition{type="Stalled",status="True"}')).toBe(1);
    expect(sample(body, 'backhaul_condition{type="Reconciling",status="True"}')).toBe(0);
    expect(sample(body, "backhaul_policy_rejected")).toBe(1);
    expect(sample(body, "backhaul_last_successful_pass_timestamp_seconds")).toBe(
      Date.parse(STATUS_FIXTURE.lastSuccessfulPassAt!) / 1000,
    );
    expect(body).toContain(
      "# HELP backhaul_uplink_rtt_seconds Smoothed probe round-trip time through the uplink.",
    );
    expect(body).toContain("# TYPE backhaul_switches_total counter");
  });

  it("count passes, switches, plan ops and reloads, with every label present from the start", async () => {
    const m = new DaemonMetrics();
    const before = await m.exposition();
    expect(sample(before.body, 'backhaul_switches_total{cause="physical"}')).toBe(0);
    expect(sample(before.body, 'backhaul_passes_total{outcome="rollback-failed"}')).toBe(0);
    expect(sample(before.body, 'backhaul_policy_reloads_total{result="failed"}')).toBe(0);
    expect(sample(before.body, 'backhaul_pass_duration_seconds_count{path="fast"}')).toBe(0);

    for (const p of PASSES) m.recordPass(p);
    m.recordReload(true);
    m.recordReload(false);
    m.recordReload(false);
    m.setDrift(3);
    const { body } = await scrape(m);
    expect(sample(body, 'backhaul_passes_total{outcome="no-change"}')).toBe(6);
    expect(sample(body, 'backhaul_passes_total{outcome="applied"}')).toBe(3);
    expect(sample(body, 'backhaul_passes_total{outcome="failed"}')).toBe(1);
    expect(sample(body, 'backhaul_switches_total{cause="health"}')).toBe(1);
    expect(sample(body, 'backhaul_switches_total{cause="preference"}')).toBe(1);
    expect(sample(body, 'backhaul_switches_total{cause="physical"}')).toBe(0);
    expect(sample(body, "backhaul_plan_ops_total")).toBe(4);
    expect(sample(body, 'backhaul_policy_reloads_total{result="ok"}')).toBe(1);
    expect(sample(body, 'backhaul_policy_reloads_total{result="failed"}')).toBe(2);
    expect(sample(body, "backhaul_drift_objects")).toBe(3);
    // The fast pass took 6.8 ms: in the 7.5 ms bucket, not the 5 ms one.
    expect(sample(body, 'backhaul_pass_duration_seconds_count{path="fast"}')).toBe(1);
    expect(sample(body, 'backhaul_pass_duration_seconds_bucket{le="0.005",path="fast"}')).toBe(0);
    expect(sample(body, 'backhaul_pass_duration_seconds_bucket{le="0.0075",path="fast"}')).toBe(1);
    expect(sample(body, 'backhaul_pass_duration_seconds_count{path="full"}')).toBe(9);
  });

  it("drop the series of an uplink that left the snapshot", async () => {
    const m = new DaemonMetrics();
    m.update(STATUS_FIXTURE);
    m.update({ ...STATUS_FIXTURE, uplinks: STATUS_FIXTURE.uplinks.filter((u) => u.name !== "lte") });
    const { body } = await m.exposition();
    expect(body).not.toContain('uplink="lte"');
    expect(sample(body, 'backhaul_uplink_active{uplink="fibre"}')).toBe(1);
  });

  it("count drift by class, every class present (0 when none)", async () => {
    const m = new DaemonMetrics();
    m.setDrift(3, { missing: 2, conflict: 1 });
    const { body } = await m.exposition();
    expect(sample(body, "backhaul_drift_objects")).toBe(3);
    expect(sample(body, 'backhaul_drift_by_class{class="missing"}')).toBe(2);
    expect(sample(body, 'backhaul_drift_by_class{class="conflict"}')).toBe(1);
    expect(sample(body, 'backhaul_drift_by_class{class="changed"}')).toBe(0);
    expect(sample(body, 'backhaul_drift_by_class{class="extra"}')).toBe(0);
  });

  it("keep their own registry: two instances do not share series", async () => {
    const a = new DaemonMetrics();
    const b = new DaemonMetrics();
    a.setDrift(7);
    expect(sample((await b.exposition()).body, "backhaul_drift_objects")).toBe(0);
  });

  it("answer 404 off /metrics", async () => {
    await scrape(new DaemonMetrics());
    const res = await fetch(`http://127.0.0.1:${server!.address.port}/status`);
    expect(res.status).toBe(404);
    await res.text();
  });

  it("refuse a listen address that is not host:port, and say why it cannot listen", async () => {
    await expect(serveMetrics("localhost", new DaemonMetrics())).rejects.toThrow(/is not host:port/);
    server = await serveMetrics("127.0.0.1:0", new DaemonMetrics());
    await expect(serveMetrics(`127.0.0.1:${server.address.port}`, new DaemonMetrics())).rejects.toThrow(
      /cannot listen on 127\.0\.0\.1:\d+: the address is in use/,
    );
  });

  it("read IPv6 listen addresses in brackets", () => {
    expect(splitHostPort("[::1]:9417")).toEqual({ host: "::1", port: 9417 });
    expect(splitHostPort("127.0.0.1:0")).toEqual({ host: "127.0.0.1", port: 0 });
    expect(() => splitHostPort("[fe80::zz]:1")).toThrow(/not an IPv6 address/);
  });

  it("are all listed in docs/status.md with their type and help text", async () => {
    const doc = readFileSync(new URL("../../docs/status.md", import.meta.url), "utf8");
    const rows = new Map(
      doc
        .split("\n")
        .filter((l) => l.startsWith("| `backhaul_"))
        .map((l) => l.split("|").map((c) => c.trim()))
        .map((cells) => [cells[1]!.replaceAll("`", ""), cells] as const),
    );
    const registered = await new DaemonMetrics().registry.getMetricsAsJSON();
    expect([...rows.keys()].sort()).toEqual(registered.map((m) => m.name).sort());
    for (const m of registered) {
      const cells = rows.get(m.name)!;
      expect(cells[2]).toBe(m.type);
      expect(cells[4]).toBe(m.help);
    }
  });
});
