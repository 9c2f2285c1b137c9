// Decoding of u32 keys (32-bit value/mask at a byte offset of the network header) into the fields a
// person wrote: `match ip dport 22 0xffff` is stored as value 0x16 mask 0xffff at 20.
import ipaddr from "ipaddr.js";

export interface U32Match {
  /** What the 32-bit key means, when recognizable: "ip dport 22" etc. Otherwise the raw value/mask/offset. */
  readonly field: string;
  readonly value: string;
}

export interface U32Key {
  readonly value: number;
  readonly mask: number;
  readonly off: number;
  /** Offset taken from the next header (`nexthdr+` / offmask): not decodable as a fixed field. */
  readonly nexthdr: boolean;
}

const hex = (n: number, width = 0): string => `0x${n.toString(16).padStart(width, "0")}`;

/** Prefix length of a contiguous mask of `bits` bits, or undefined. */
function prefixLength(mask: bigint, bits: number): number | undefined {
  for (let len = 0; len <= bits; len++) {
    const m = len === 0 ? 0n : ((1n << BigInt(len)) - 1n) << BigInt(bits - len);
    if (m === mask) return len;
  }
  return undefined;
}

function raw(k: U32Key): U32Match {
  return {
    field: `u32 at ${k.off}${k.nexthdr ? " nexthdr" : ""}`,
    value: `${hex(k.value >>> 0, 8)}/${hex(k.mask >>> 0, 8)}`,
  };
}

/** A sub-field of a key word: `shift` and `width` in bits; decimal when the mask covers it all. */
function subfield(k: U32Key, field: string, shift: number, width: number, asHex: boolean): U32Match {
  const full = 2 ** width - 1;
  const v = Math.floor((k.value >>> 0) / 2 ** shift) & full;
  const m = Math.floor((k.mask >>> 0) / 2 ** shift) & full;
  const shown = asHex ? hex(v) : String(v);
  return { field, value: m === full ? shown : `${shown}/${hex(m)}` };
}

interface Field {
  readonly off: number;
  readonly mask: number;
  readonly name: string;
  readonly shift: number;
  readonly width: number;
  readonly hex: boolean;
}

const IPV4_FIELDS: readonly Field[] = [
  { off: 0, mask: 0x00ff0000, name: "ip dsfield", shift: 16, width: 8, hex: true },
  { off: 8, mask: 0x00ff0000, name: "ip protocol", shift: 16, width: 8, hex: false },
  { off: 20, mask: 0xffff0000, name: "ip sport", shift: 16, width: 16, hex: false },
  { off: 20, mask: 0x0000ffff, name: "ip dport", shift: 0, width: 16, hex: false },
  { off: 20, mask: 0xff000000, name: "ip icmp_type", shift: 24, width: 8, hex: false },
  { off: 20, mask: 0x00ff0000, name: "ip icmp_code", shift: 16, width: 8, hex: false },
];

const IPV6_FIELDS: readonly Field[] = [
  { off: 0, mask: 0x0ff00000, name: "ip6 priority", shift: 20, width: 8, hex: true },
  { off: 4, mask: 0x0000ff00, name: "ip6 protocol", shift: 8, width: 8, hex: false },
  { off: 40, mask: 0xffff0000, name: "ip6 sport", shift: 16, width: 16, hex: false },
  { off: 40, mask: 0x0000ffff, name: "ip6 dport", shift: 0, width: 16, hex: false },
];

/** The field whose bits contain the key's mask (a narrower mask means a partial match of it). */
function fieldOf(k: U32Key, fields: readonly Field[]): Field | undefined {
  const m = k.mask >>> 0;
  if (m === 0) return undefined;
  return (
    fields.find((f) => f.off === k.off && f.mask >>> 0 === m) ??
    fields.find((f) => f.off === k.off && (m & ~f.mask) >>> 0 === 0)
  );
}

function decodeV4Address(k: U32Key): U32Match | undefined {
  const name = k.off === 12 ? "ip src" : k.off === 16 ? "ip dst" : undefined;
  if (name === undefined) return undefined;
  const len = prefixLength(BigInt(k.mask >>> 0), 32);
  if (len === undefined) return undefined;
  const v = k.value >>> 0;
  const a = ipaddr.fromByteArray([v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255]).toString();
  return { field: name, value: `${a}/${len}` };
}

/**
 * IPv6 addresses span four keys (src at 8..20, dst at 24..36). Consecutive keys of one address that
 * together form a prefix become one match; anything else stays raw.
 */
function decodeV6Addresses(keys: readonly U32Key[]): Map<number, U32Match | null> {
  const out = new Map<number, U32Match | null>();
  for (const [name, base] of [
    ["ip6 src", 8],
    ["ip6 dst", 24],
  ] as const) {
    const idx = keys.flatMap((k, i) => (!k.nexthdr && k.off >= base && k.off < base + 16 ? [i] : []));
    if (idx.length === 0) continue;
    let value = 0n;
    let mask = 0n;
    const seen = new Set<number>();
    let ok = true;
    for (const i of idx) {
      const k = keys[i] as U32Key;
      if (k.off % 4 !== 0 || seen.has(k.off)) ok = false;
      seen.add(k.off);
      const shift = BigInt((base + 12 - k.off) * 8);
      value |= BigInt(k.value >>> 0) << shift;
      mask |= BigInt(k.mask >>> 0) << shift;
    }
    const len = ok ? prefixLength(mask, 128) : undefined;
    if (len === undefined) continue;
    const bytes: number[] = [];
    for (let b = 15; b >= 0; b--) bytes.push(Number((value >> BigInt(b * 8)) & 255n));
    const first = idx[0] as number;
    out.set(first, { field: name, value: `${ipaddr.fromByteArray(bytes).toString()}/${len}` });
    for (const i of idx.slice(1)) out.set(i, null);
  }
  return out;
}

/** Decode the keys of one u32 filter, for its protocol ("ip", "ipv6", other: raw). */
export function decodeU32(keys: readonly U32Key[], protocol: string): U32Match[] {
  if (protocol === "ip") {
    return keys.map((k) => {
      if (k.nexthdr) return raw(k);
      const a = decodeV4Address(k);
      if (a !== undefined) return a;
      const f = fieldOf(k, IPV4_FIELDS);
      return f === undefined ? raw(k) : subfield(k, f.name, f.shift, f.width, f.hex);
    });
  }
  if (protocol === "ipv6") {
    const addrs = decodeV6Addresses(keys);
    return keys.flatMap((k, i) => {
      const a = addrs.get(i);
      if (a === null) return [];
      if (a !== undefined) return [a];
      if (k.nexthdr) return [raw(k)];
      const f = fieldOf(k, IPV6_FIELDS);
      return [f === undefined ? raw(k) : subfield(k, f.name, f.shift, f.width, f.hex)];
    });
  }
  return keys.map(raw);
}
