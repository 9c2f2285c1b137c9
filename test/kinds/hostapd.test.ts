import { describe, expect, it } from "vitest";
import { diff } from "../../src/core/plan/diff.js";
import { DRIVERS, emptyState } from "../../src/kinds/registry.js";
import {
  confText,
  credentialFiles,
  hostapdConfig,
  hostapdOf,
  hostapdPaths,
  parseConf,
  securityOf,
  ssidLine,
  ssidOf,
  type Hostapd,
} from "../../src/kinds/services/hostapd.js";
import type { Ownership } from "../../src/kinds/types.js";
import { HOTSPOT_AP } from "../support/plan-fixtures.js";

const drv = DRIVERS.hostapd;
const render = (op: Parameters<typeof drv.command.render>[0]) =>
  drv.command.render(op, { replacedRoots: new Set() });
const DIR = "/var/lib/backhaul/hostapd/host";
const OWN = { uplinkInterfaces: [], addresses: [] } as unknown as Ownership;

describe("the hotspot's access point (hostapd)", () => {
  it("writes a plain SSID as it is and anything else in hex, so no byte can start a directive", () => {
    expect(ssidLine("village node")).toBe("ssid=village node");
    expect(ssidLine("café")).toBe(`ssid2=${Buffer.from("café").toString("hex")}`);
    expect(ssidLine(" edge")).toMatch(/^ssid2=/);
    const hostile = ssidLine("x\ninterface=eth0");
    expect(hostile).toBe(`ssid2=${Buffer.from("x\ninterface=eth0").toString("hex")}`);
    expect(ssidOf([hostile])).toBe("x\ninterface=eth0");
  });

  it.each([
    ["wpa2", "disabled", ["wpa_key_mgmt=WPA-PSK", "ieee80211w=0", `wpa_psk_file=${DIR}/wlan0.wpa_psk`]],
    ["wpa3", "required", ["wpa_key_mgmt=SAE", "ieee80211w=2", "sae_require_mfp=1"]],
    [
      "wpa2-wpa3",
      "optional",
      ["wpa_key_mgmt=WPA-PSK SAE", "ieee80211w=1", "sae_require_mfp=1", `wpa_psk_file=${DIR}/wlan0.wpa_psk`],
    ],
  ] as const)("configures %s with management frame protection %s", (security, pmf, lines) => {
    const config = hostapdConfig(DIR, { ...HOTSPOT_AP, security, pmf });
    expect(config).toEqual(expect.arrayContaining(["wpa=2", "rsn_pairwise=CCMP", ...lines]));
    expect(securityOf(config)).toBe(security);
    if (security === "wpa3") expect(config.some((l) => l.startsWith("wpa_psk_file="))).toBe(false);
  });

  it("gives an open access point no WPA settings and no passphrase", () => {
    const h = hostapdOf(DIR, { ...HOTSPOT_AP, security: "open", pmf: "disabled" });
    expect(h.config.some((l) => l.startsWith("wpa"))).toBe(false);
    expect(h.passphraseFile).toBeUndefined();
    expect(h.credentials).toBeUndefined();
    expect(securityOf(h.config)).toBe("open");
  });

  it("sets band, channel and country on a radio, and none of them on the wired driver of a lab", () => {
    const radio = hostapdConfig(DIR, { ...HOTSPOT_AP, channel: 36, country: "KE" });
    expect(radio).toEqual(
      expect.arrayContaining(["hw_mode=a", "channel=36", "country_code=KE", "ieee80211d=1"]),
    );
    const lab = hostapdConfig(DIR, { ...HOTSPOT_AP, driver: "wired", country: "KE" });
    expect(lab.filter((l) => /^(hw_mode|channel|country_code|ieee80211d)=/.test(l))).toEqual([]);
    expect(lab).toContain("driver=wired");
  });

  it("keeps client isolation, the client limit and our control socket directory", () => {
    const c = hostapdConfig(DIR, HOTSPOT_AP);
    expect(c).toEqual(
      expect.arrayContaining([
        "ap_isolate=1",
        "max_num_sta=16",
        `ctrl_interface=${DIR}/ctrl`,
        "interface=wlan0",
      ]),
    );
  });

  it("reads its passphrase from the policy's file, or from the one backhaul generates", () => {
    expect(hostapdOf(DIR, HOTSPOT_AP).passphraseFile).toBe(hostapdPaths(DIR, "wlan0").passphrase);
    expect(hostapdOf(DIR, { ...HOTSPOT_AP, passphraseFile: "/etc/backhaul/psk" }).passphraseFile).toBe(
      "/etc/backhaul/psk",
    );
  });

  it("puts the passphrase where each mode takes it, and onboarding tokens in the WPA-PSK file", () => {
    const t = [{ id: "abc", passphrase: "token-pass", expires: 1 }];
    expect(credentialFiles("wpa2", "secret-pass", t)).toEqual({
      confLines: ["wpa_passphrase=secret-pass"],
      wpaPsk: "keyid=abc 00:00:00:00:00:00 token-pass\n",
    });
    expect(credentialFiles("wpa3", "secret-pass", t)).toEqual({
      confLines: ["sae_password=secret-pass"],
      wpaPsk: "",
    });
    expect(credentialFiles("wpa2-wpa3", "secret-pass", [])).toEqual({
      confLines: ["wpa_passphrase=secret-pass", "sae_password=secret-pass"],
      wpaPsk: "",
    });
  });

  it("reads its own file back: the settings apart from the secrets, and where the passphrase came from", () => {
    const h = hostapdOf(DIR, HOTSPOT_AP);
    const text = confText(h, ["wpa_passphrase=s3cret-pass", "sae_password=s3cret-pass"]);
    expect(parseConf(text)).toEqual({
      config: h.config,
      secrets: ["wpa_passphrase=s3cret-pass", "sae_password=s3cret-pass"],
      passphraseFile: h.passphraseFile,
    });
    expect(parseConf("interface=wlan0\n")).toBeUndefined();
  });

  it("starts with its files prepared and its control socket awaited, and carries no secret in the op", () => {
    const h = hostapdOf(DIR, HOTSPOT_AP);
    const [line] = render({ op: "add", after: h });
    expect(line).toMatchObject({
      action: "start",
      argv: ["hostapd", `${DIR}/wlan0.conf`],
      pidFile: `${DIR}/wlan0.pid`,
      ready: { socket: `${DIR}/ctrl/wlan0` },
      prepare: { kind: "hostapd", security: "wpa2-wpa3", generate: true },
    });
    expect(JSON.stringify(line)).not.toMatch(/wpa_passphrase|sae_password/);
  });

  it("reloads for new credentials and restarts for new settings", () => {
    const want = hostapdOf(DIR, HOTSPOT_AP);
    const stale: Hostapd = { ...want, credentials: "stale", pid: 42 };
    const reload = diff({ ...emptyState(), hostapd: [stale] }, { ...emptyState(), hostapd: [want] }, OWN);
    expect(reload).toEqual([{ op: "change", before: stale, after: want }]);
    expect(render(reload[0] as never)).toEqual([
      expect.objectContaining({ action: "reload", restore: false, pidFile: `${DIR}/wlan0.pid` }),
    ]);
    expect(drv.disruption(reload[0] as never, undefined as never)).toBe("in-place");
    // Its rollback puts the file that ran before back.
    expect(render(drv.inverse(reload[0] as never))).toEqual([
      expect.objectContaining({ action: "reload", restore: true }),
    ]);
    const renamed = hostapdOf(DIR, { ...HOTSPOT_AP, ssid: "other" });
    const restart = diff({ ...emptyState(), hostapd: [stale] }, { ...emptyState(), hostapd: [renamed] }, OWN);
    expect(restart.map((o) => o.op)).toEqual(["delete", "add"]);
    expect(render(restart[0] as never)).toEqual([
      expect.objectContaining({
        action: "stop",
        remove: expect.arrayContaining([`${DIR}/wlan0.conf`, `${DIR}/wlan0.wpa_psk`]),
      }),
    ]);
  });

  it("refuses to render a setting that could carry a directive, a secret, or a command line not ours", () => {
    const h = hostapdOf(DIR, HOTSPOT_AP);
    expect(() =>
      render({ op: "add", after: { ...h, config: [...h.config, "ssid=x\ndriver=wired"] } }),
    ).toThrow(/setting backhaul does not write/);
    expect(() => render({ op: "add", after: { ...h, config: [...h.config, "wpa_passphrase=x"] } })).toThrow(
      /setting backhaul does not write/,
    );
    expect(() => render({ op: "add", after: { ...h, argv: ["hostapd", "-B", h.argv[1]!] } })).toThrow(
      /command line/,
    );
    expect(() => render({ op: "add", after: { ...h, passphraseFile: "relative/psk" } })).toThrow(/absolute/);
  });
});
