// The schema's defaults are the reference's numbers; a minimal policy gets all of them.
import { describe, expect, it } from "vitest";
import { loadPolicyTexts } from "../../src/policy/load.js";
import type { EffectivePolicy } from "../../src/policy/types.js";

function load(text: string): EffectivePolicy {
  const r = loadPolicyTexts([{ file: "min.yaml", text }]);
  if (!r.ok) throw new Error(r.diagnostics.map((d) => d.summary).join("; "));
  return r.policy;
}

const MINIMAL =
  "uplinks:\n  - name: fibre\n    interface: eth0\nprobes:\n  targets: [tcp://198.51.100.10:443]\n";

describe("defaults", () => {
  const p = load(MINIMAL);

  it("probing: hold-downs 15s/30s/60s/10s, minimum state 5s, every 5s with a 2s timeout", () => {
    expect(p.probes.holdDown).toEqual({
      upToDegraded: 15_000,
      degradedToDown: 30_000,
      downToProbing: 60_000,
      probingToUp: 10_000,
    });
    expect(p.probes).toMatchObject({
      minStateDuration: 5000,
      interval: 5000,
      timeout: 2000,
      quorum: 1,
      batteryFactor: 2,
      meteredFactor: 2,
    });
  });

  it("recovery thresholds: 80% of the degraded RTT and half the degraded loss unless given", () => {
    expect(p.probes).toMatchObject({ degradedRtt: 500, recoverRtt: 400, degradedLoss: 20, recoverLoss: 10 });
    const q = load(`${MINIMAL}  degradedRtt: 1s\n  recoverLoss: 5%\n`);
    expect(q.probes).toMatchObject({ recoverRtt: 800, recoverLoss: 5 });
  });

  it("scoring: weights 300/200/500, max RTT 200ms, max loss 10%, bias by kind 100/80/60/40/40", () => {
    expect(p.selection.weights).toEqual({ latency: 300, loss: 200, success: 500 });
    expect([p.selection.maxRtt, p.selection.maxLoss]).toEqual([200, 10]);
    expect(p.selection.biasByKind).toEqual({
      ethernet: 100,
      wifi: 80,
      lte: 60,
      "usb-tether": 40,
      "bt-pan": 40,
    });
    expect(p.selection).toMatchObject({ strategy: "failover", noUsableUplink: "keep-last" });
    expect(p.selection.thresholds.recover).toBeGreaterThan(p.selection.thresholds.fail);
  });

  it("routing: tables 100-199, rule priorities 1000-1099, protocol 201", () => {
    expect(p.routing).toEqual({
      tables: { min: 100, max: 199 },
      priorities: { min: 1000, max: 1099 },
      protocol: 201,
      nftTable: "backhaul",
      rpFilter: "loose",
    });
  });

  it("daemon: /var/lib/backhaul, metrics on 127.0.0.1:9417, /run/backhaul/status.sock, resync every 30s, drift healed", () => {
    expect(p.daemon).toEqual({
      stateDir: "/var/lib/backhaul",
      metricsListen: "127.0.0.1:9417",
      statusSocket: "/run/backhaul/status.sock",
      resyncInterval: 30_000,
      logLevel: "info",
      drift: { heal: true },
    });
  });

  it("an uplink's bias follows its kind; an undetected kind leaves it to run time", () => {
    const q = load(
      "uplinks:\n  - {name: a, interface: wwan0, kind: lte}\n  - {name: b, interface: eth1}\n  - {name: c, match: {kind: bt-pan}}\nprobes:\n  targets: [tcp://198.51.100.10:443]\n",
    );
    expect(q.uplinks.map((u) => [u.kind, u.bias])).toEqual([
      ["lte", 60],
      [undefined, undefined],
      ["bt-pan", 40],
    ]);
  });

  it("hotspot: the reference's SSID, channel 6, WPA2/WPA3, 24h rotation, 5m tokens, isolation, 10 clients, 30s/60s hold-downs", () => {
    const h = load(`${MINIMAL}hotspot:\n  passphraseFile: /nonexistent/psk\n`).hotspot!;
    expect(h).toMatchObject({
      interface: "wlan0",
      ssid: "Ambient-Hotspot",
      channel: 6,
      security: "wpa2-wpa3",
      pmf: "optional",
      rotation: 86_400_000,
      onboardingToken: 300_000,
      clientIsolation: true,
      maxClients: 10,
      activate: "when-no-uplink",
      holdDown: { raise: 30_000, lower: 60_000 },
      nat: true,
    });
  });

  it("QoS: control DSCP 46 ports 22,443; interactive 34 ports 80,8080; bulk 10; shares of the link", () => {
    const q = load(`${MINIMAL}qos:\n  - interface: eth0\n    rate: 10mbit\n`).qos[0]!;
    expect(q.defaultClass).toBe("bulk");
    expect(q.classes).toEqual({
      control: { rate: 1_000_000, ceil: 10_000_000, priority: 0, dscp: 46, ports: [22, 443] },
      interactive: { rate: 3_000_000, ceil: 10_000_000, priority: 1, dscp: 34, ports: [80, 8080] },
      bulk: { rate: 6_000_000, ceil: 10_000_000, priority: 2, dscp: 10, ports: [] },
    });
  });
});
