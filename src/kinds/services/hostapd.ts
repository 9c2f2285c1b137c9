// hostapd serving the hotspot: our own instance in the foreground under supervision, one per
// interface, its configuration file written by backhaul at every start and reload. Its desired form
// is its command line, the configuration's settings (every line but the credentials) and where the
// credentials come from; the secrets themselves are read from their files when the file is written
// (effects/hotspot/credentials.ts), so no passphrase is ever in a plan, a journal, a log or status.
// Observed: the live process its pid file names with our command line, the settings parsed back from
// the file it runs, whether that file's credentials are still what the credential files hold, and its
// state and stations through its control socket.
import { plainEqual } from "../../util/canonical.js";
import { RenderError, type KindDriver, type OpOn } from "../driver.js";
import { validInterfaceName } from "../ip/common.js";
import type { KernelState } from "../types.js";
import { serviceParts } from "./common.js";

export type HotspotSecurity = "open" | "wpa2" | "wpa3" | "wpa2-wpa3";
export type Pmf = "disabled" | "optional" | "required";

/** What the access point is, from the policy's hotspot section. */
export interface HostapdParams {
  readonly iface: string;
  readonly driver: "nl80211" | "wired";
  readonly ssid: string;
  readonly country?: string;
  readonly channel: number;
  readonly security: HotspotSecurity;
  readonly pmf: Pmf;
  readonly clientIsolation: boolean;
  readonly maxClients: number;
  /** The user's passphrase file; absent (and not open): the one backhaul generates and rotates. */
  readonly passphraseFile?: string;
}

export interface Hostapd {
  readonly kind: "hostapd";
  readonly iface: string;
  /** `hostapd CONF`. */
  readonly argv: readonly string[];
  /** The configuration file's settings, in order, without the credentials. */
  readonly config: readonly string[];
  /** Where the passphrase is read from (absent: an open hotspot). */
  readonly passphraseFile?: string;
  /**
   * Whether the running file's credentials are what the passphrase file and the live onboarding
   * tokens hold now (desired: always "current"; "stale" is a reload). Absent: an open hotspot.
   */
  readonly credentials?: "current" | "stale";
  /** Observed only: the live process. */
  readonly pid?: number;
  /** Observed only: hostapd's interface state (ENABLED once it serves), as its control socket says. */
  readonly state?: string;
  /** Observed only: associated stations. */
  readonly stations?: number;
  /** Observed only: when the passphrase was last set (its file's mtime, epoch ms). */
  readonly passphraseSince?: number;
}

/** The directory of one namespace's access points ("host" for the root namespace). */
export function hostapdDir(stateDir: string, scope: string): string {
  return `${stateDir.replace(/\/+$/, "")}/hostapd/${scope}`;
}

export function hostapdPaths(dir: string, iface: string) {
  return {
    conf: `${dir}/${iface}.conf`,
    /** Written by backhaul with the child's pid: hostapd in the foreground writes none. */
    pid: `${dir}/${iface}.pid`,
    log: `${dir}/${iface}.log`,
    /** The onboarding tokens' keys, for hostapd (WPA-PSK, one per line). */
    wpaPsk: `${dir}/${iface}.wpa_psk`,
    /** The passphrase backhaul generated (when the policy names no passphraseFile). */
    passphrase: `${dir}/${iface}.psk`,
    /** The onboarding tokens (JSON), written by `backhaul hotspot token`. */
    tokens: `${dir}/${iface}.tokens`,
    /** The control sockets' directory (mode 0700) and this interface's socket in it. */
    ctrlDir: `${dir}/ctrl`,
    socket: `${dir}/ctrl/${iface}`,
  };
}

/** The two keys of hostapd's configuration that hold secrets: never part of the desired settings. */
export const SECRET_KEYS = ["wpa_passphrase", "sae_password"] as const;

const PASSPHRASE_FILE_HEADER = "# backhaul passphrase-file=";

/** A plain `ssid=` only for printable ASCII without edge spaces; anything else as hex (`ssid2=`). */
export function ssidLine(ssid: string): string {
  return /^[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?$/.test(ssid)
    ? `ssid=${ssid}`
    : `ssid2=${Buffer.from(ssid, "utf8").toString("hex")}`;
}

const KEY_MGMT: Readonly<Record<Exclude<HotspotSecurity, "open">, string>> = {
  wpa2: "WPA-PSK",
  wpa3: "SAE",
  "wpa2-wpa3": "WPA-PSK SAE",
};
const PMF_VALUE: Readonly<Record<Pmf, string>> = { disabled: "0", optional: "1", required: "2" };

/** Security modes whose clients can join with a WPA-PSK key (onboarding tokens are such keys). */
export const takesPskKeys = (s: HotspotSecurity): boolean => s === "wpa2" || s === "wpa2-wpa3";

/**
 * The settings lines for the policy's access point. A radio gets its band, channel and regulatory
 * domain; the wired driver (a lab) has no radio, and a country code there keeps hostapd waiting for a
 * regulatory update that never comes, so it has none.
 */
export function hostapdConfig(dir: string, p: HostapdParams): string[] {
  const paths = hostapdPaths(dir, p.iface);
  const radio =
    p.driver === "nl80211"
      ? [
          `hw_mode=${p.channel <= 14 ? "g" : "a"}`,
          `channel=${p.channel}`,
          ...(p.country === undefined ? [] : [`country_code=${p.country}`, "ieee80211d=1"]),
        ]
      : [];
  const security =
    p.security === "open"
      ? []
      : [
          "wpa=2",
          `wpa_key_mgmt=${KEY_MGMT[p.security]}`,
          "rsn_pairwise=CCMP",
          `ieee80211w=${PMF_VALUE[p.pmf]}`,
          ...(p.security === "wpa2" ? [] : ["sae_require_mfp=1"]),
          ...(takesPskKeys(p.security) ? [`wpa_psk_file=${paths.wpaPsk}`] : []),
        ];
  return [
    `interface=${p.iface}`,
    `driver=${p.driver}`,
    `ctrl_interface=${paths.ctrlDir}`,
    ssidLine(p.ssid),
    ...radio,
    `ap_isolate=${p.clientIsolation ? 1 : 0}`,
    `max_num_sta=${p.maxClients}`,
    ...security,
  ];
}

export function hostapdOf(dir: string, p: HostapdParams): Hostapd {
  const paths = hostapdPaths(dir, p.iface);
  return {
    kind: "hostapd",
    iface: p.iface,
    argv: ["hostapd", paths.conf],
    config: hostapdConfig(dir, p),
    ...(p.security === "open"
      ? {}
      : { passphraseFile: p.passphraseFile ?? paths.passphrase, credentials: "current" as const }),
  };
}

/** One onboarding token: a temporary key, removed once `expires` (epoch ms) has passed. */
export interface OnboardingToken {
  readonly id: string;
  readonly passphrase: string;
  readonly expires: number;
}

/** The credentials as hostapd's files carry them: lines of the configuration, and the WPA-PSK file. */
export interface CredentialFiles {
  readonly confLines: readonly string[];
  readonly wpaPsk: string;
}

/**
 * Where the passphrase and the tokens go for each mode: WPA-PSK takes the passphrase as
 * wpa_passphrase and each token as a key of the wpa_psk_file; SAE takes the passphrase as its one
 * password (clients without a password identifier use the first), so tokens reach mixed mode's
 * WPA-PSK side only.
 */
export function credentialFiles(
  security: HotspotSecurity,
  passphrase: string,
  tokens: readonly OnboardingToken[],
): CredentialFiles {
  if (security === "open") return { confLines: [], wpaPsk: "" };
  const psk = takesPskKeys(security);
  return {
    confLines: [
      ...(psk ? [`wpa_passphrase=${passphrase}`] : []),
      ...(security === "wpa2" ? [] : [`sae_password=${passphrase}`]),
    ],
    wpaPsk: psk ? tokens.map((t) => `keyid=${t.id} 00:00:00:00:00:00 ${t.passphrase}\n`).join("") : "",
  };
}

/** The configuration file hostapd runs: a header, the settings, then the credentials. */
export function confText(
  h: { readonly iface: string; readonly config: readonly string[]; readonly passphraseFile?: string },
  credentialLines: readonly string[],
): string {
  return [
    `# Written by backhaul for the hotspot on ${h.iface}; rewritten at every start and reload.`,
    ...(h.passphraseFile === undefined ? [] : [`${PASSPHRASE_FILE_HEADER}${h.passphraseFile}`]),
    ...h.config,
    ...credentialLines,
    "",
  ].join("\n");
}

/** A configuration file of ours read back: its settings, its credentials' lines, its passphrase file. */
export function parseConf(
  text: string,
): { config: string[]; secrets: string[]; passphraseFile?: string } | undefined {
  const lines = text.split("\n").filter((l) => l !== "");
  if (!lines[0]?.startsWith("# Written by backhaul")) return undefined;
  const header = lines.find((l) => l.startsWith(PASSPHRASE_FILE_HEADER));
  const body = lines.filter((l) => !l.startsWith("#"));
  const secret = (l: string) => SECRET_KEYS.some((k) => l.startsWith(`${k}=`));
  return {
    config: body.filter((l) => !secret(l)),
    secrets: body.filter(secret),
    ...(header === undefined ? {} : { passphraseFile: header.slice(PASSPHRASE_FILE_HEADER.length) }),
  };
}

/** The security mode a configuration's settings give. */
export function securityOf(config: readonly string[]): HotspotSecurity {
  const mgmt = config.find((l) => l.startsWith("wpa_key_mgmt="))?.slice("wpa_key_mgmt=".length);
  if (mgmt === undefined) return "open";
  const ms = mgmt.split(" ");
  return ms.includes("SAE") ? (ms.includes("WPA-PSK") ? "wpa2-wpa3" : "wpa3") : "wpa2";
}

/** The SSID the settings name (decoded from hex when written as ssid2). */
export function ssidOf(config: readonly string[]): string | undefined {
  for (const l of config) {
    if (l.startsWith("ssid=")) return l.slice(5);
    if (l.startsWith("ssid2=")) return Buffer.from(l.slice(6), "hex").toString("utf8");
  }
  return undefined;
}

/** The commands sent to `hostapd_cli` in interactive mode. */
export const HOSTAPD_CLI_INPUT = "status\n";

/**
 * Parse the interactive answer to `status`: key=value lines, the first behind a "> " prompt.
 * Undefined when hostapd did not answer.
 */
export function parseHostapdStatus(out: string): { state: string; stations: number } | undefined {
  const kv = new Map<string, string>();
  for (const raw of out.split("\n")) {
    const line = raw.replace(/^(> )+/, "");
    const eq = line.indexOf("=");
    if (eq <= 0 || /\s/.test(line.slice(0, eq))) continue;
    if (!kv.has(line.slice(0, eq))) kv.set(line.slice(0, eq), line.slice(eq + 1));
  }
  const state = kv.get("state");
  if (state === undefined) return undefined;
  const n = Number(kv.get("num_sta[0]") ?? "0");
  return { state, stations: Number.isInteger(n) && n >= 0 ? n : 0 };
}

const SAFE_PATH = /^\/[\w./-]*$/;
const safePath = (p: string) => SAFE_PATH.test(p) && !p.split("/").includes("..");

/** The object checked before it reaches a process or a file: our command line, plain settings. */
/** The directory a command line of ours keeps its files in (`hostapd DIR/IFACE.conf`), if it is one. */
function dirOfArgv(h: Hostapd): string | undefined {
  const conf = h.argv[1];
  const suffix = `/${h.iface}.conf`;
  if (h.argv.length !== 2 || h.argv[0] !== "hostapd" || conf === undefined || !conf.endsWith(suffix))
    return undefined;
  return conf.slice(0, -suffix.length);
}

/** The passphrase comes from the file backhaul generates (not the user's). */
const generatedPassphrase = (h: Hostapd): boolean => {
  const dir = dirOfArgv(h);
  return dir !== undefined && h.passphraseFile === hostapdPaths(dir, h.iface).passphrase;
};

function checked(h: Hostapd): ReturnType<typeof hostapdPaths> {
  if (!validInterfaceName(h.iface) || h.iface.startsWith("-"))
    throw new RenderError(`invalid interface name ${JSON.stringify(h.iface)}`);
  const dir = dirOfArgv(h);
  if (dir === undefined)
    throw new RenderError(`the access point on ${h.iface} has a command line backhaul does not run`);
  if (!safePath(dir)) throw new RenderError(`the access point on ${h.iface} names no usable state directory`);
  // Every setting is one line of a key and a value without control characters: nothing can add a
  // directive of its own, and no setting may carry a secret.
  for (const l of h.config)
    if (!/^[a-z_0-9]+=[\x20-\x7e]*$/.test(l) || SECRET_KEYS.some((k) => l.startsWith(`${k}=`)))
      throw new RenderError(`the access point on ${h.iface} has a setting backhaul does not write`);
  if (
    h.passphraseFile !== undefined &&
    (!h.passphraseFile.startsWith("/") || !/^[\x20-\x7e]+$/.test(h.passphraseFile))
  )
    throw new RenderError(`the passphrase file of ${h.iface} is not a usable absolute path`);
  return hostapdPaths(dir, h.iface);
}

const describe = (h: Hostapd): string => {
  const ssid = ssidOf(h.config);
  return `access point on ${h.iface}${ssid === undefined ? "" : ` ssid ${JSON.stringify(ssid)}`} ${securityOf(h.config)}`;
};

/** The policy setting each configuration key comes from. */
const SETTING_OF: Readonly<Record<string, string>> = {
  driver: "/hotspot/driver",
  ssid: "/hotspot/ssid",
  ssid2: "/hotspot/ssid",
  hw_mode: "/hotspot/channel",
  channel: "/hotspot/channel",
  country_code: "/hotspot/country",
  ap_isolate: "/hotspot/clientIsolation",
  max_num_sta: "/hotspot/maxClients",
  wpa: "/hotspot/security",
  wpa_key_mgmt: "/hotspot/security",
  sae_require_mfp: "/hotspot/security",
  ieee80211w: "/hotspot/pmf",
};

/** The object's settings as policy pointers with their values (kinds/driver.ts PolicyRef.hotspot). */
function settingPointers(h: Hostapd): string[] {
  const out = h.config.flatMap((l) => {
    const eq = l.indexOf("=");
    const at = SETTING_OF[l.slice(0, eq)];
    return at === undefined ? [] : [`${at}=${l.slice(eq + 1)}`];
  });
  // Where the passphrase comes from, and whether the running file still carries it (a rotation, a
  // token, an edit of the user's file).
  if (h.passphraseFile !== undefined) out.push(`/hotspot/passphraseFile=${h.passphraseFile}`);
  if (h.credentials !== undefined)
    out.push(`${generatedPassphrase(h) ? "/hotspot/rotation" : "/hotspot/passphraseFile"}=${h.credentials}`);
  return out;
}

/** Only where the credentials come from, or whether they are current, differs: a reload does it. */
export function credentialsOnly(a: Hostapd, b: Hostapd): boolean {
  return a.iface === b.iface && plainEqual(a.argv, b.argv) && plainEqual(a.config, b.config);
}

/** What the executor needs to write hostapd's files (kinds/driver.ts ServiceLine). */
function prepare(h: Hostapd, paths: ReturnType<typeof hostapdPaths>) {
  return {
    kind: "hostapd",
    conf: paths.conf,
    ctrlDir: paths.ctrlDir,
    wpaPsk: paths.wpaPsk,
    tokens: paths.tokens,
    iface: h.iface,
    config: h.config,
    security: securityOf(h.config),
    ...(h.passphraseFile === undefined
      ? {}
      : {
          passphraseFile: h.passphraseFile,
          // Ours to create when missing; the user's file is only ever read.
          generate: generatedPassphrase(h),
        }),
  } as const;
}

function render(op: OpOn<Hostapd>) {
  if (op.op === "change") {
    if (!credentialsOnly(op.before, op.after))
      throw new RenderError(
        "the access point is restarted for a change of its settings, never changed in place",
      );
    const paths = checked(op.after);
    return [
      {
        action: "reload",
        label: describe(op.after),
        argv: op.after.argv,
        pidFile: paths.pid,
        prepare: prepare(op.after, paths),
        // A rollback takes the file back to what ran before (its credentials were stale then).
        restore: op.after.credentials === "stale",
      } as const,
    ];
  }
  const h = op.op === "add" ? op.after : op.before;
  const paths = checked(h);
  return [
    op.op === "add"
      ? ({
          action: "start",
          label: describe(h),
          argv: h.argv,
          pidFile: paths.pid,
          logFile: paths.log,
          prepare: prepare(h, paths),
          ready: { socket: paths.socket },
        } as const)
      : ({
          action: "stop",
          label: describe(h),
          argv: h.argv,
          pidFile: paths.pid,
          // The running file holds the secrets: it goes with the process (the generated passphrase stays).
          remove: [paths.conf, `${paths.conf}.prev`, paths.wpaPsk, paths.socket],
        } as const),
  ];
}

export const hostapd: KindDriver<Hostapd, KernelState> = {
  kind: "hostapd",
  ...serviceParts<Hostapd>(11, ["service-pids", "hostapd-ctrl"]),
  // The same access point: same command line, settings and credentials (pid, state, stations are
  // what it is doing).
  equal: (a, b) =>
    credentialsOnly(a, b) && a.passphraseFile === b.passphraseFile && a.credentials === b.credentials,
  // New credentials are a reload that keeps the access point up; other settings are a restart.
  inPlace: credentialsOnly,
  command: { tool: "service", render },
  policyRef: (o) => ({ iface: o.iface, hotspot: settingPointers(o) }),
  disruption: (op) => (op.op === "add" ? "none" : op.op === "change" ? "in-place" : "flap"),
  observe: (raw) =>
    raw.daemons.hostapd.map((h) => {
      const status = parseHostapdStatus(raw.hostapd.find((a) => a.iface === h.iface)?.out ?? "");
      return status === undefined ? h : { ...h, ...status };
    }),
  describe,
  show: {
    place: 7,
    keep: () => true,
    sections: (hs) => [
      {
        title: "Hotspot",
        lines: hs.map(
          (h) =>
            `  access point on ${h.iface}: ${h.pid === undefined ? "not running" : `pid ${h.pid}`}, ${h.state ?? "no answer"}, ssid ${JSON.stringify(ssidOf(h.config) ?? "")} ${securityOf(h.config)}, ${h.stations ?? 0} station(s)` +
            (h.credentials === "stale" ? ", credentials stale" : ""),
        ),
      },
    ],
  },
  supervision: { pid: (o) => o.pid, iface: (o) => o.iface, state: (o) => o.state },
  // A start writes the credentials the files hold now: stale ones cannot be started again.
  startsAs: (o) => (o.credentials === undefined ? o : { ...o, credentials: "current" }),
  independent: true,
};
