// Checks of single values that reach commands or generated config files: interface names, addresses,
// probe targets, paths, SSIDs, passphrases. Each returns a problem (a sentence) or undefined, so the
// schema's formats and the semantic checks give the same clear message.
import ipaddr from "ipaddr.js";
import type { ProbeTarget } from "./types.js";

const IFNAMSIZ = 16;

/** Characters backhaul accepts in interface names: a strict subset of what the kernel allows, with
 * nothing a shell, a config file or a command line would interpret. */
const SAFE_IFNAME = /^[A-Za-z0-9._-]+$/;

export function interfaceNameProblem(name: string): string | undefined {
  const bytes = Buffer.byteLength(name, "utf8");
  if (bytes === 0) return "an interface name cannot be empty";
  if (bytes > IFNAMSIZ - 1)
    return `interface name "${name}" is ${bytes} bytes long; the kernel allows at most 15`;
  if (name === "." || name === "..") return `"${name}" is not a valid interface name`;
  const refused = /[/:\s]/.exec(name)?.[0];
  if (refused !== undefined) {
    const what = refused === "/" || refused === ":" ? `'${refused}'` : "whitespace";
    return `interface name ${JSON.stringify(name)} contains ${what}, which the kernel refuses in interface names`;
  }
  if (!SAFE_IFNAME.test(name)) {
    return `interface name ${JSON.stringify(name)} contains characters backhaul refuses (allowed: letters, digits, '.', '-', '_')`;
  }
  if (name.startsWith("-"))
    return `interface name ${JSON.stringify(name)} starts with '-': ip and tc would read it as an option`;
  if (name === "all" || name === "default")
    return `"${name}" is not an interface: the kernel's /proc/sys/net/*/conf/${name} stands for every interface`;
  return undefined;
}

export function interfaceGlobProblem(glob: string): string | undefined {
  if (glob === "") return "a name pattern cannot be empty";
  if (Buffer.byteLength(glob, "utf8") > IFNAMSIZ - 1) return `name pattern "${glob}" is longer than 15 bytes`;
  if (!/^[A-Za-z0-9._*?-]+$/.test(glob)) {
    return `name pattern ${JSON.stringify(glob)} may use letters, digits, '.', '-', '_' and the wildcards '*' and '?'`;
  }
  if (glob.startsWith("-"))
    return `name pattern ${JSON.stringify(glob)} starts with '-', as no interface name may`;
  return undefined;
}

/** Does the glob (`*`, `?`) match the interface name? */
export function globMatches(glob: string, name: string): boolean {
  const re = new RegExp(`^${glob.replace(/[.-]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".")}$`);
  return re.test(name);
}

/** Only the plain forms: dotted quad for IPv4 (no octal, hex or short forms), RFC 4291 text for IPv6. */
export function parseIp(text: string): ipaddr.IPv4 | ipaddr.IPv6 | undefined {
  if (ipaddr.IPv4.isValidFourPartDecimal(text)) return ipaddr.IPv4.parse(text);
  if (text.includes(":") && ipaddr.IPv6.isValid(text) && !text.includes("%")) return ipaddr.IPv6.parse(text);
  return undefined;
}

export function ipProblem(text: string): string | undefined {
  return parseIp(text)
    ? undefined
    : `"${text}" is not an IP address (expected e.g. 198.51.100.1 or 2001:db8::1)`;
}

export interface Cidr {
  readonly ip: ipaddr.IPv4 | ipaddr.IPv6;
  readonly prefix: number;
}

export function parseCidr(text: string): Cidr | undefined {
  // A prefix length with leading zeros ("/024") is refused like an address with them.
  const m = /^([^/]+)\/(0|[1-9]\d{0,2})$/.exec(text);
  if (!m) return undefined;
  const ip = parseIp(m[1]!);
  const prefix = Number(m[2]);
  if (!ip || prefix > (ip.kind() === "ipv4" ? 32 : 128)) return undefined;
  return { ip, prefix };
}

export function cidrProblem(text: string): string | undefined {
  return parseCidr(text)
    ? undefined
    : `"${text}" is not an address with a prefix length (expected e.g. 100.64.1.2/24 or 2001:db8::2/64)`;
}

export function gatewayProblem(text: string): string | undefined {
  if (text === "auto") return undefined;
  return parseIp(text) ? undefined : `gateway "${text}" is neither "auto" nor an IP address`;
}

/** Is ip inside the network of cidr? (Families must agree.) */
export function inSubnet(ip: ipaddr.IPv4 | ipaddr.IPv6, cidr: Cidr): boolean {
  if (ip.kind() !== cidr.ip.kind()) return false;
  return (ip as ipaddr.IPv4).match(cidr.ip as ipaddr.IPv4, cidr.prefix);
}

/** The address as a big integer, to compare and step through ranges of either family. */
export function ipToBigInt(ip: ipaddr.IPv4 | ipaddr.IPv6): bigint {
  return ip.toByteArray().reduce((acc, b) => (acc << 8n) | BigInt(b), 0n);
}

export function bigIntToIp(n: bigint, kind: "ipv4" | "ipv6"): ipaddr.IPv4 | ipaddr.IPv6 {
  const len = kind === "ipv4" ? 4 : 16;
  const bytes: number[] = [];
  for (let i = 0; i < len; i++) bytes.unshift(Number((n >> BigInt(8 * i)) & 0xffn));
  return ipaddr.fromByteArray(bytes);
}

/** First and last address of the network (network and broadcast address for IPv4). */
export function subnetBounds(c: Cidr): { first: bigint; last: bigint } {
  const bits = c.ip.kind() === "ipv4" ? 32 : 128;
  const size = 1n << BigInt(bits - c.prefix);
  const first = (ipToBigInt(c.ip) / size) * size;
  return { first, last: first + size - 1n };
}

const HOSTNAME =
  /^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;

function hostProblem(host: string): string | undefined {
  if (host.startsWith("[")) {
    const inner = host.slice(1, -1);
    return host.endsWith("]") && parseIp(inner)?.kind() === "ipv6"
      ? undefined
      : `"${host}" is not an IPv6 address`;
  }
  if (/^[\d.]+$/.test(host)) return parseIp(host) ? undefined : `"${host}" is not an IPv4 address`;
  return HOSTNAME.test(host) ? undefined : `"${host}" is not a host name or IP address`;
}

function portOf(text: string | undefined, fallback: number | undefined): number | string {
  if (text === undefined) return fallback ?? "a port is required (e.g. :443)";
  const port = Number(text);
  return port >= 1 && port <= 65535 ? port : `port ${text} is outside 1-65535`;
}

const TARGET = /^([a-z]+):\/\/(\[[^\]/]*\]|[^/:[\]]*)(?::(\d{1,5}))?(\/[^\s]*)?$/;
const URL_PATH = /^\/[A-Za-z0-9\-._~/%?=&+,:@!*]*$/;

/** Parse `tcp://host:port`, `http(s)://host[:port]/path`, `dns://ip[:port]/name`, `icmp://host`. */
export function parseProbeTarget(url: string, expect?: number): ProbeTarget | string {
  const m = TARGET.exec(url);
  if (!m)
    return `probe target "${url}" is not understood (expected tcp://host:port, http(s)://host/path, dns://resolver/name or icmp://host)`;
  const [, scheme = "", rawHost = "", rawPort, path] = m;
  const problem = hostProblem(rawHost);
  if (problem) return `probe target "${url}": ${problem}`;
  const host = rawHost.startsWith("[") ? rawHost.slice(1, -1) : rawHost;
  if (path !== undefined && !URL_PATH.test(path)) {
    return `probe target "${url}": the path may use only letters, digits and - . _ ~ / % ? = & + , : @ ! *`;
  }
  switch (scheme) {
    case "tcp": {
      if (path !== undefined && path !== "/") return `probe target "${url}": a tcp target has no path`;
      const port = portOf(rawPort, undefined);
      if (typeof port === "string") return `probe target "${url}": ${port}`;
      return { type: "tcp", url, host, port };
    }
    case "http":
    case "https": {
      const port = portOf(rawPort, scheme === "http" ? 80 : 443);
      if (typeof port === "string") return `probe target "${url}": ${port}`;
      const p = path ?? "/";
      const expectStatus = expect ?? (p.split("?")[0]!.endsWith("generate_204") ? 204 : 200);
      return { type: scheme, url, host, port, path: p, expectStatus };
    }
    case "dns": {
      if (!parseIp(host)) return `probe target "${url}": the resolver of a dns target must be an IP address`;
      const port = portOf(rawPort, 53);
      if (typeof port === "string") return `probe target "${url}": ${port}`;
      const name = (path ?? "").slice(1);
      if (name === "" || !HOSTNAME.test(name)) {
        return `probe target "${url}": a dns target names what to resolve, e.g. dns://198.51.100.53/example.org`;
      }
      return { type: "dns", url, host, port, name };
    }
    case "icmp":
      if (rawPort !== undefined || (path !== undefined && path !== "/")) {
        return `probe target "${url}": an icmp target is only a host`;
      }
      return { type: "icmp", url, host };
    default:
      return `probe target "${url}": unknown scheme "${scheme}" (expected tcp, http, https, dns or icmp)`;
  }
}

export function probeTargetProblem(url: string): string | undefined {
  const t = parseProbeTarget(url);
  return typeof t === "string" ? t : undefined;
}

const SAFE_PATH = /^\/[A-Za-z0-9._/@+-]*$/;

export function absPathProblem(path: string): string | undefined {
  if (!path.startsWith("/")) return `"${path}" is not an absolute path`;
  if (path.length > 1024) return "the path is longer than 1024 characters";
  if (!SAFE_PATH.test(path)) {
    return `path ${JSON.stringify(path)} contains characters backhaul refuses (allowed: letters, digits, '/', '.', '-', '_', '@', '+')`;
  }
  if (path.split("/").some((seg) => seg === "..")) return `path "${path}" contains a ".." component`;
  return undefined;
}

/** Kernel filesystems and the root: no place for backhaul's state or sockets. */
const KERNEL_TREES = ["/proc", "/sys", "/dev"];

/** A directory or file backhaul creates and writes: absolute, safe, and not `/` or a kernel filesystem. */
export function statePathProblem(path: string): string | undefined {
  const p = absPathProblem(path);
  if (p !== undefined) return p;
  const norm = path.replace(/\/+/g, "/").replace(/(.)\/$/, "$1");
  if (norm === "/" || norm.split("/").every((seg) => seg === "" || seg === "."))
    return `"${path}" is the root directory: backhaul's state needs a directory of its own`;
  const tree = KERNEL_TREES.find((t) => norm === t || norm.startsWith(`${t}/`));
  if (tree !== undefined) return `"${path}" is under ${tree}, a kernel filesystem, not a place for files`;
  return undefined;
}

/** sun_path holds 108 bytes with its terminating NUL. */
export const UNIX_SOCKET_PATH_MAX = 107;

/**
 * A Unix socket's path: a state path short enough for sun_path, with room left for the namespace the
 * daemon adds to it (`status.NETNS.sock`); `netnsRoom` is that room.
 */
export function socketPathProblem(path: string, netnsRoom = 0): string | undefined {
  const p = statePathProblem(path);
  if (p !== undefined) return p;
  const bytes = Buffer.byteLength(path, "utf8");
  if (bytes + netnsRoom > UNIX_SOCKET_PATH_MAX)
    return `the socket path is ${bytes} bytes; a Unix socket's path holds at most ${UNIX_SOCKET_PATH_MAX}${netnsRoom > 0 ? `, and a daemon in a namespace adds up to ${netnsRoom} (".NAME")` : ""}`;
  return undefined;
}

/** The ISO 3166-1 alpha-2 codes assigned to countries and territories (249). */
const ISO_3166_ALPHA2: ReadonlySet<string> = new Set(
  (
    "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT " +
    "BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH " +
    "ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT " +
    "HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS " +
    "LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI " +
    "NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG " +
    "SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG " +
    "UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW"
  ).split(" "),
);

/** Suggestions for codes people write that ISO 3166 does not assign. */
const COUNTRY_HINTS: Readonly<Record<string, string>> = { UK: "GB", EL: "GR", EU: "a member state's code" };

export function countryCodeProblem(code: string): string | undefined {
  if (!/^[A-Z]{2}$/.test(code)) return `"${code}" is not a two-letter country code in capitals, such as DE`;
  if (ISO_3166_ALPHA2.has(code)) return undefined;
  const hint = COUNTRY_HINTS[code];
  return `"${code}" is not an ISO 3166-1 country code${hint === undefined ? "" : ` (use ${hint})`}`;
}

const HOST_PORT = /^(\[[^\]]+\]|[^:[\]]+):(\d{1,5})$/;
const NOT_HOST_PORT = (text: string) => `"${text}" is not host:port (e.g. 127.0.0.1:9417 or [::1]:9417)`;

export function hostPortProblem(text: string): string | undefined {
  const m = HOST_PORT.exec(text);
  if (!m) return NOT_HOST_PORT(text);
  const problem = hostProblem(m[1]!);
  if (problem) return problem;
  const port = Number(m[2]);
  return port >= 1 && port <= 65535 ? undefined : `port ${m[2]} is outside 1-65535`;
}

/** An http(s) URL with a host, no whitespace or control characters (it goes into a request, not a shell). */
export function webhookUrlProblem(text: string): string | undefined {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    return "not a URL";
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") return `${u.protocol} is not http: or https:`;
  if (u.hostname === "") return "the URL names no host";
  // eslint-disable-next-line no-control-regex -- refusing control characters is the point
  if (/[\s\u0000-\u001f\u007f]/.test(text)) return "the URL holds whitespace or control characters";
  return undefined;
}

/** Host (without IPv6 brackets) and port of a listen address; port 0 (any free port) is allowed. Throws on anything else. */
export function splitHostPort(text: string): { readonly host: string; readonly port: number } {
  const m = HOST_PORT.exec(text);
  const problem = m ? hostProblem(m[1]!) : NOT_HOST_PORT(text);
  if (problem !== undefined) throw new Error(problem);
  const port = Number(m![2]);
  if (port > 65535) throw new Error(`port ${m![2]} is outside 0-65535`);
  return { host: hostOf(text), port };
}

/** The host of a host:port, without IPv6 brackets. */
export function hostOf(hostPort: string): string {
  const host = hostPort.slice(0, hostPort.lastIndexOf(":"));
  return host.startsWith("[") ? host.slice(1, -1) : host;
}

/** A control character: C0, DEL or C1. These would split lines in config files and confuse terminals. */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
export const CONTROL_CHAR = /[\u0000-\u001f\u007f-\u009f]/;

export function describeControlChar(s: string): string {
  const c = CONTROL_CHAR.exec(s)?.[0] ?? "";
  const names: Record<string, string> = {
    "\n": "a newline",
    "\r": "a carriage return",
    "\t": "a tab",
    "\u0000": "a NUL byte",
  };
  return names[c] ?? `the control character U+${c.charCodeAt(0).toString(16).toUpperCase().padStart(4, "0")}`;
}

export function ssidProblem(ssid: string): string | undefined {
  const bytes = Buffer.byteLength(ssid, "utf8");
  if (bytes < 1 || bytes > 32) return `an SSID is 1-32 bytes; this one is ${bytes}`;
  if (CONTROL_CHAR.test(ssid))
    return `the SSID contains ${describeControlChar(ssid)}, which would inject into hostapd's configuration`;
  return undefined;
}

/** WPA-PSK passphrases are 8-63 printable ASCII characters (IEEE 802.11i). */
export function passphraseProblem(passphrase: string): string | undefined {
  if (passphrase.length < 8 || passphrase.length > 63) {
    return `a WPA passphrase is 8-63 characters; this one has ${passphrase.length}`;
  }
  if (!/^[\x20-\x7e]+$/.test(passphrase)) return "a WPA passphrase uses only printable ASCII characters";
  return undefined;
}
