// The hotspot as `status`, the metrics and the Ready condition show it: whether it is up and why (the
// activation's decision), whether our access point serves (hostapd's own state), how many clients
// hold a lease, and the passphrase's fingerprint and age (never the passphrase).
import type { Activation } from "../core/decide/hotspot-activation.js";
import type { Hotspot } from "../policy/types.js";
import type { ServiceStatus } from "./service-watch.js";

export interface HotspotStatus {
  readonly iface: string;
  readonly activate: "always" | "when-no-uplink";
  /** What the activation decided. */
  readonly up: boolean;
  readonly since: string;
  readonly why: string;
  /** Our access point serves: hostapd runs and says ENABLED. */
  readonly serving: boolean;
  /** hostapd's interface state, when it runs and answers. */
  readonly state?: string;
  readonly ssid: string;
  readonly security: Hotspot["security"];
  /** Clients holding a lease from our DHCP server. */
  readonly clients: number;
  /** Absent for an open hotspot. */
  readonly passphrase?: {
    /** "generated": backhaul's own, rotated on the policy's schedule; "file": the policy's passphraseFile. */
    readonly source: "generated" | "file";
    /** Its first 8 hex digits of SHA-256: shows that it changed, never what it is. */
    readonly fingerprint?: string;
    readonly ageSeconds?: number;
    /** When backhaul replaces it next (generated, with rotation). */
    readonly rotatesAt?: string;
  };
}

export interface PassphraseFacts {
  readonly fingerprint?: string;
  /** When it was set (epoch ms). */
  readonly since?: number;
}

export function hotspotStatus(
  h: Hotspot | undefined,
  activation: Activation | undefined,
  services: readonly ServiceStatus[],
  passphrase: PassphraseFacts,
  now: number,
): HotspotStatus | undefined {
  if (h === undefined || h.activate === "never") return undefined;
  const ap = services.find((x) => x.service === "hostapd" && x.iface === h.interface);
  const server = services.find((x) => x.service === "dnsmasq" && x.iface === h.interface);
  const up = activation?.up ?? h.activate === "always";
  const generated = h.passphraseFile === undefined;
  return {
    iface: h.interface,
    activate: h.activate,
    up,
    since: new Date(activation?.since ?? now).toISOString(),
    why: activation?.why ?? (h.activate === "always" ? "activate: always" : "no pass has decided yet"),
    serving: ap?.pid !== undefined && ap.state === "ENABLED",
    ...(ap?.pid === undefined || ap.state === undefined ? {} : { state: ap.state }),
    ssid: h.ssid,
    security: h.security,
    clients: server?.pid === undefined ? 0 : (server.clients?.length ?? 0),
    ...(h.security === "open"
      ? {}
      : {
          passphrase: {
            source: generated ? "generated" : "file",
            ...(passphrase.fingerprint === undefined ? {} : { fingerprint: passphrase.fingerprint }),
            ...(passphrase.since === undefined
              ? {}
              : { ageSeconds: Math.max(0, Math.round((now - passphrase.since) / 1000)) }),
            ...(generated && h.rotation !== null && passphrase.since !== undefined
              ? { rotatesAt: new Date(passphrase.since + h.rotation).toISOString() }
              : {}),
          },
        }),
  };
}

/** For the Ready condition: what is wrong with a hotspot that should serve, if anything. */
export function hotspotProblem(s: HotspotStatus | undefined): string | undefined {
  if (s === undefined || !s.up || s.serving) return undefined;
  return `the hotspot should be up (${s.why}) but its access point does not serve${s.state === undefined ? "" : ` (hostapd: ${s.state})`}`;
}
