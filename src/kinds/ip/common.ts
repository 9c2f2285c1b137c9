// What the ip kinds share: canonical forms of addresses and prefixes as observation reads them, and the
// validated printers rendering uses, so that every value is checked before it becomes part of a command.
import ipaddr from "ipaddr.js";
import { RenderError, type Family } from "../driver.js";
import { formatAddress, formatPrefix, parseAddress, parsePrefix } from "../../util/prefix.js";
import type { RouteScope } from "./names.js";

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

/** IPv6 texts already seen: ipaddr.js is thorough but slow, and gateways and sources repeat. */
const v6Cache = new Map<string, string | undefined>();

/** Canonical text of an address of the given family, or undefined when it is not one. */
export function canonicalAddress(a: string, family?: Family): string | undefined {
  // Dotted-quad IPv4 without leading zeros is already canonical (the common case, kept fast).
  if (IPV4.test(a)) return family === 6 ? undefined : a;
  if (family === 4 || !a.includes(":") || a.includes("%")) return undefined;
  let c = v6Cache.get(a);
  if (c === undefined && !v6Cache.has(a)) {
    c = ipaddr.IPv6.isValid(a) ? ipaddr.IPv6.parse(a).toString() : undefined;
    if (v6Cache.size >= 10_000) v6Cache.clear();
    v6Cache.set(a, c);
  }
  return c;
}

export function familyOf(a: string): Family | undefined {
  if (!ipaddr.isValid(a)) return undefined;
  return ipaddr.parse(a).kind() === "ipv6" ? 6 : 4;
}

/** "a.b.c.d/len" from an address and an optional prefix length (absent: a host prefix). */
export function canonicalPrefix(a: string, len: number | undefined, family?: Family): string | undefined {
  const addr = canonicalAddress(a, family);
  if (addr === undefined) return undefined;
  const max = addr.includes(":") ? 128 : 32;
  const l = len ?? max;
  if (!Number.isInteger(l) || l < 0 || l > max) return undefined;
  return `${addr}/${l}`;
}

/** A prefix as iproute2 prints it ("default", "10.0.0.0/8", "10.0.0.1") in canonical form. */
export function canonicalDst(dst: string, family: Family): string | undefined {
  if (dst === "default") return family === 4 ? "0.0.0.0/0" : "::/0";
  const [a, len, extra] = dst.split("/");
  if (a === undefined || extra !== undefined) return undefined;
  if (len !== undefined && !/^\d+$/.test(len)) return undefined;
  return canonicalPrefix(a, len === undefined ? undefined : Number(len), family);
}

/** The kernel's rules for interface names: 1–15 bytes, no '/', ':' or whitespace, not "." or "..". */
export function validInterfaceName(name: string): boolean {
  return (
    Buffer.byteLength(name, "utf8") >= 1 &&
    Buffer.byteLength(name, "utf8") <= 15 &&
    !/[/:\s]/.test(name) &&
    name !== "." &&
    name !== ".."
  );
}

/** An interface name checked for a command line. */
export function dev(name: string): string {
  if (!validInterfaceName(name)) throw new RenderError(`invalid interface name ${JSON.stringify(name)}`);
  return name;
}

export function u32(n: number, what: string, min = 0, max = 0xffffffff): string {
  if (!Number.isInteger(n) || n < min || n > max)
    throw new RenderError(`${what} must be an integer in ${min}..${max}, got ${n}`);
  return String(n);
}

export function hex32(n: number, what: string): string {
  u32(n, what);
  return `0x${n.toString(16)}`;
}

/** Parse with a util/prefix.ts parser, as a RenderError unless it parses to the family wanted. */
function ofFamily<T extends { readonly family: Family }>(
  text: string,
  family: Family,
  what: string,
  parse: (t: string) => T,
): T {
  let v: T;
  try {
    v = parse(text);
  } catch (e) {
    throw new RenderError((e as Error).message);
  }
  if (v.family !== family) throw new RenderError(`${text} is not an IPv${family} ${what}`);
  return v;
}

export const prefix = (text: string, family: Family): string =>
  formatPrefix(ofFamily(text, family, "prefix", parsePrefix));

export function address(text: string, family: Family): string {
  const a = ofFamily(text, family, "address", parseAddress);
  return formatAddress(a.family, a.value);
}

export const SCOPES: readonly RouteScope[] = ["global", "site", "link", "host", "nowhere"];

/** `-6 ` for IPv6 in descriptions, as `ip -6` reads. */
export const fam = (f: Family): string => (f === 6 ? "-6 " : "");

/** A line of an ip batch. */
export const ipLine = (family: Family | undefined, words: readonly string[]) =>
  family === undefined ? { text: words.join(" ") } : { family, text: words.join(" ") };
