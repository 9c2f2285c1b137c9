import { describe, expect, it } from "vitest";
import { DRIVERS } from "../../src/kinds/registry.js";
import {
  dnsmasqOf,
  paramsOfArgv,
  parseHotspotLeases,
  type DnsmasqParams,
} from "../../src/kinds/services/dnsmasq.js";
import { plannerInputs } from "../../src/core/plan/inputs.js";
import { loadPolicyTexts } from "../../src/policy/load.js";
import { emptyState } from "../../src/kinds/registry.js";
import { HOTSPOT_SERVER } from "../support/plan-fixtures.js";

const drv = DRIVERS.dnsmasq;
const render = (op: Parameters<typeof drv.command.render>[0]) =>
  drv.command.render(op, { replacedRoots: new Set() });
const DIR = "/var/lib/backhaul/dnsmasq/host";
const P = HOTSPOT_SERVER;

describe("the hotspot's DHCP and DNS server (dnsmasq)", () => {
  it("runs with its whole configuration on the command line, bound to the hotspot interface alone", () => {
    const d = dnsmasqOf(DIR, P);
    expect(d.argv).toEqual([
      "dnsmasq",
      "--keep-in-foreground",
      "--conf-file=/dev/null",
      "--no-hosts",
      "--bind-dynamic",
      "--interface=wlan0",
      "--except-interface=lo",
      "--dhcp-range=100.64.50.100,100.64.50.200,255.255.255.0,3600",
      "--dhcp-option=option:router,100.64.50.1",
      "--dhcp-option=option:dns-server,100.64.50.1",
      "--dhcp-authoritative",
      "--dhcp-lease-max=16",
      `--dhcp-leasefile=${DIR}/wlan0.leases`,
      `--pid-file=${DIR}/wlan0.pid`,
      "--log-facility=-",
    ]);
    expect(paramsOfArgv(d.argv)).toEqual({ dir: DIR, params: P });
  });

  it("starts and stops as a service of ours, restarted on any change, supervised and cleaned up", () => {
    const d = dnsmasqOf(DIR, P);
    expect(render({ op: "add", after: d })).toEqual([
      expect.objectContaining({ action: "start", argv: d.argv, pidFile: `${DIR}/wlan0.pid` }),
    ]);
    expect(render({ op: "delete", before: d })).toEqual([
      expect.objectContaining({ action: "stop", argv: d.argv }),
    ]);
    expect(drv.equal({ ...d, pid: 4, leases: [] }, d)).toBe(true);
    expect(drv.equal(d, dnsmasqOf(DIR, { ...P, maxClients: 8 }))).toBe(false);
    expect(drv.cleanup).toBe("remove");
    expect(drv.supervision?.iface(d)).toBe("wlan0");
  });

  it("refuses a command line it does not build: hostile values never reach the process", () => {
    const bad =
      (p: Partial<DnsmasqParams>, dir = DIR) =>
      () =>
        render({ op: "add", after: dnsmasqOf(dir, { ...P, ...p }) });
    expect(bad({ start: "100.64.50.100\n--dhcp-script=/tmp/x" })).toThrow(/not an IPv4 address/);
    expect(bad({ router: "100.64.50.1,--conf-file=/etc/x" })).toThrow(/backhaul does not run|IPv4/);
    expect(bad({ iface: "-x" })).toThrow(/invalid interface name/);
    expect(bad({}, "/var/lib/../etc")).toThrow(/no usable state directory/);
    const d = dnsmasqOf(DIR, P);
    expect(() => render({ op: "add", after: { ...d, argv: [...d.argv, "--dhcp-script=/tmp/x"] } })).toThrow(
      /does not run/,
    );
  });

  it("reads its lease file, skipping what is not a lease", () => {
    const text = [
      "1796649999 9a:a7:d6:11:9a:39 100.64.50.135 phone 01:9a:a7:d6:11:9a:39",
      "1796650000 02:00:00:00:00:01 100.64.50.136 * *",
      "duid 00:01:00:01",
      "1796650000 zz 100.64.50.137 x *",
    ].join("\n");
    expect(parseHotspotLeases(text)).toEqual([
      { mac: "9a:a7:d6:11:9a:39", address: "100.64.50.135", expires: 1796649999, hostname: "phone" },
      { mac: "02:00:00:00:00:01", address: "100.64.50.136", expires: 1796650000 },
    ]);
  });

  it("is planned from the policy's hotspot unless it is never raised", () => {
    const policy = (activate: string) => {
      const r = loadPolicyTexts([
        {
          file: "p.yaml",
          text: [
            "version: 1",
            "probes: {targets: [tcp://192.0.2.1:443]}",
            "uplinks: [{name: fibre, interface: eth0}]",
            "hotspot:",
            "  interface: wlan0",
            `  activate: ${activate}`,
            "  ssid: shop",
            "  security: open",
            "  address: 100.64.50.1/24",
            "  maxClients: 16",
            "  dhcp: {start: 100.64.50.100, end: 100.64.50.200, lease: 1h}",
          ].join("\n"),
        },
      ]);
      if (!r.ok) throw new Error(r.diagnostics.map((x) => x.summary).join("; "));
      return r.policy;
    };
    expect(plannerInputs(policy("always"), emptyState()).hotspot).toMatchObject({
      raise: "always",
      address: "100.64.50.1/24",
      dir: "/var/lib/backhaul/dnsmasq/host",
      dnsmasq: P,
      hostapd: {
        dir: "/var/lib/backhaul/hostapd/host",
        params: { iface: "wlan0", ssid: "shop", security: "open" },
      },
    });
    expect(plannerInputs(policy("never"), emptyState()).hotspot).toBeUndefined();
    expect(plannerInputs(policy("when-no-uplink"), emptyState()).hotspot).toMatchObject({
      raise: "when-no-uplink",
    });
  });
});
