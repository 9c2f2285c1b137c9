// hostapd serving the hotspot: observed through its control socket in our state directory
// (`hostapd_cli status` and `get_config`).
import type { KindDriver } from "../driver.js";
import type { KernelState } from "../types.js";
import { serviceParts } from "./common.js";

export interface Hostapd {
  readonly kind: "hostapd";
  readonly iface: string;
  readonly state: string;
  readonly ssid: string;
  readonly security: "open" | "wpa2" | "wpa3" | "wpa2-wpa3";
  readonly configHash: string;
}

/** The commands sent to `hostapd_cli` in interactive mode (one process for both answers). */
export const HOSTAPD_CLI_INPUT = "status\nget_config\n";

/**
 * Parse the interactive answers to `status` and `get_config`: key=value lines, the first of each
 * answer behind a "> " prompt. Undefined when hostapd did not answer.
 */
export function parseHostapd(out: string, iface: string, hash: string): Hostapd | undefined {
  const kv = new Map<string, string>();
  for (const raw of out.split("\n")) {
    const line = raw.replace(/^(> )+/, "");
    const eq = line.indexOf("=");
    if (eq <= 0 || /\s/.test(line.slice(0, eq))) continue;
    if (!kv.has(line.slice(0, eq))) kv.set(line.slice(0, eq), line.slice(eq + 1));
  }
  const state = kv.get("state");
  const ssid = kv.get("ssid") ?? kv.get("ssid[0]");
  if (state === undefined || ssid === undefined) return undefined;
  const mgmt = (kv.get("key_mgmt") ?? "").split(/\s+/).filter(Boolean);
  const wpa = Number(kv.get("wpa") ?? "0");
  const psk = mgmt.some((m) => m === "WPA-PSK" || m === "WPA-PSK-SHA256");
  const sae = mgmt.includes("SAE");
  const security: Hostapd["security"] =
    wpa === 0 || (!psk && !sae) ? "open" : psk && sae ? "wpa2-wpa3" : sae ? "wpa3" : "wpa2";
  return { kind: "hostapd", iface, state, ssid, security, configHash: hash };
}

export const hostapd: KindDriver<Hostapd, KernelState> = {
  kind: "hostapd",
  ...serviceParts<Hostapd>(11, ["hostapd-ctrl"]),
  observe: (raw) =>
    raw.hostapd.flatMap((h) => {
      const o = parseHostapd(h.out, h.iface, h.configHash);
      return o === undefined ? [] : [o];
    }),
  describe: (o) => `hostapd on ${o.iface} ssid "${o.ssid}" ${o.security}`,
  show: {
    place: 7,
    keep: () => true,
    sections: (hs) => [
      {
        title: "Hotspot",
        lines: hs.map(
          (h) => `  ${h.iface}: ${h.state} ssid ${JSON.stringify(h.ssid)} security ${h.security}`,
        ),
      },
    ],
  },
};
