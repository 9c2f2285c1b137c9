// IP addresses and prefixes as integers (bigint for both families), parsed with ipaddr.js and cached:
// the model compares hundreds of thousands of prefixes per plan check.
import ipaddr from "ipaddr.js";
/** An IP address family. */
export type Family = 4 | 6;

export interface Prefix {
  readonly family: Family;
  /** The network address with host bits zero. */
  readonly net: bigint;
  readonly len: number;
}

const BITS: Readonly<Record<Family, number>> = { 4: 32, 6: 128 };

export function familyBits(f: Family): number {
  return BITS[f];
}

const masks: Record<Family, bigint[]> = { 4: [], 6: [] };
for (const f of [4, 6] as const) {
  const bits = BITS[f];
  const all = (1n << BigInt(bits)) - 1n;
  for (let len = 0; len <= bits; len++) masks[f].push(all ^ ((1n << BigInt(bits - len)) - 1n));
}

export function maskOf(f: Family, len: number): bigint {
  const m = masks[f][len];
  if (m === undefined) throw new Error(`prefix length ${len} out of range for IPv${f}`);
  return m;
}

const DOTTED_QUAD = /^(0|[1-9]\d{0,2})(\.(0|[1-9]\d{0,2})){3}$/;

function parseUncached(text: string): Address {
  // ipaddr.js accepts legacy forms ("1", "0x7f.1"); the kernel's tools print and take dotted quads only.
  if (DOTTED_QUAD.test(text)) {
    // Four decimal octets without leading zeros (the pattern): only their range is left to check.
    let v = 0;
    for (const part of text.split(".")) {
      const o = Number(part);
      if (o > 255) throw new Error(`not an IP address: ${JSON.stringify(text)}`);
      v = v * 256 + o;
    }
    return { family: 4, value: BigInt(v) };
  }
  if (!text.includes("%") && ipaddr.IPv6.isValid(text)) {
    let v = 0n;
    for (const part of ipaddr.IPv6.parse(text).parts) v = (v << 16n) | BigInt(part);
    return { family: 6, value: v };
  }
  throw new Error(`not an IP address: ${JSON.stringify(text)}`);
}

export interface Address {
  readonly family: Family;
  readonly value: bigint;
}

const addrCache = new Map<string, Address>();

/** Parse a bare address ("198.51.100.7", "2001:db8::7"); throws a clear error on anything else. */
export function parseAddress(text: string): Address {
  const hit = addrCache.get(text);
  if (hit) return hit;
  const a = parseUncached(text);
  if (addrCache.size > 100_000) addrCache.clear();
  addrCache.set(text, a);
  return a;
}

const prefixCache = new Map<string, Prefix>();

/** Parse "a.b.c.d/len" or "x::/len"; host bits must be zero, as the kernel requires for routes. */
export function parsePrefix(text: string): Prefix {
  const hit = prefixCache.get(text);
  if (hit) return hit;
  const p = parseInterfacePrefix(text);
  // IPv4 host bits in plain arithmetic: no bigint temporaries for the common case.
  const hostBits =
    p.family === 4 ? Number(p.net) % 2 ** (32 - p.len) !== 0 : (p.net & ~maskOf(p.family, p.len)) !== 0n;
  if (hostBits) throw new Error(`invalid prefix ${JSON.stringify(text)}: host bits are set`);
  if (prefixCache.size > 500_000) prefixCache.clear();
  prefixCache.set(text, p);
  return p;
}

/** Parse "address/len" where host bits may be set (an interface address); `net` holds the address. */
export function parseInterfacePrefix(text: string): Prefix {
  const slash = text.indexOf("/");
  if (slash < 0) throw new Error(`not a prefix (missing /len): ${JSON.stringify(text)}`);
  const a = parseUncached(text.slice(0, slash));
  const lenText = text.slice(slash + 1);
  const len = Number(lenText);
  if (!/^\d{1,3}$/.test(lenText) || len > BITS[a.family])
    throw new Error(`invalid prefix length in ${JSON.stringify(text)}`);
  return { family: a.family, net: a.value, len };
}

export function contains(p: Prefix, a: Address): boolean {
  return p.family === a.family && (a.value & maskOf(p.family, p.len)) === p.net;
}

/** Format an integer address the way ipaddr.js does (RFC 5952 for IPv6). */
export function formatAddress(family: Family, value: bigint): string {
  if (family === 4) {
    // Plans render thousands of these: plain arithmetic, not a byte array through ipaddr.js.
    const v = Number(value);
    return `${Math.floor(v / 16777216) % 256}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
  }
  const n = BITS[family] / 8;
  const bytes: number[] = [];
  for (let i = n - 1; i >= 0; i--) bytes.push(Number((value >> BigInt(i * 8)) & 0xffn));
  return ipaddr.fromByteArray(bytes).toString();
}

export function formatPrefix(p: Prefix): string {
  return `${formatAddress(p.family, p.net)}/${p.len}`;
}

/** The network prefix of an interface address: "198.51.100.7/24" → 198.51.100.0/24. */
export function networkOf(ifPrefix: Prefix): Prefix {
  return {
    family: ifPrefix.family,
    net: ifPrefix.net & maskOf(ifPrefix.family, ifPrefix.len),
    len: ifPrefix.len,
  };
}
