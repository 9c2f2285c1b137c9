// The HTB tree the policy's `qos` section implies, per interface, in exactly the normalized form the
// observer reads back after tc applied it (docs/planning.md, "QoS"):
//   qdisc htb 1: root, default 1:10, r2q 10, direct_qlen 1000 (fixed, so the qdisc never needs a change:
//     htb refuses in-place qdisc changes)
//   class 1:1 at the interface's rate (ceil = rate)
//   class 1:10 the default class; the other classes 1:20, 1:30, ... in class-name order (hex minors)
//   one u32 filter list at pref 10, protocol all, nodes 800::1, 800::2, ... in this order: DSCP nodes
//     (IPv4 then IPv6 per class), then destination-port nodes (TCP and UDP, IPv4 then IPv6 per port).
// The values tc prints are not always those it was given (rates in whole bytes and shortened units,
// bursts through timer ticks): the objects here hold what tc prints, and tc is given exactly that.
import { keyOf } from "../../kinds/registry.js";
import type { KernelObject, Qdisc, TcClass, TcFilter } from "../../kinds/types.js";
import type { QosInterface } from "../../policy/types.js";
import { decodeU32, type U32Key } from "../../kinds/tc/u32.js";
import { htbDefaultBurst, tcRate } from "../../kinds/tc/htb.js";

export class QosError extends Error {
  override name = "QosError";
}

export const QOS_ROOT_HANDLE = "1:";
export const QOS_LINK_CLASS = "1:1";
/** The default class's id is fixed, so a new `defaultClass` changes classes, never the root qdisc. */
export const QOS_DEFAULT_MINOR = 0x10;
export const QOS_FILTER_PREF = 10;
/** The root hash table u32 creates for the first (here: the only) filter list on a qdisc. */
export const QOS_U32_TABLE = "800";
export const QOS_R2Q = 10;
export const QOS_DIRECT_QLEN = 1000;
/** u32 node ids are 12 bits. */
const MAX_NODES = 0xfff;

export interface QosTree {
  readonly qdiscs: readonly Qdisc[];
  readonly classes: readonly TcClass[];
  readonly filters: readonly TcFilter[];
  /** Why each object exists, by "kind key" (see objectId in desired.ts). */
  readonly reasons: ReadonlyMap<string, string>;
}

const classid = (minor: number): string => `1:${minor.toString(16)}`;

/** Minor ids by class name: the default class 0x10, the others from 0x20 in name order. */
export function classMinors(q: QosInterface): ReadonlyMap<string, number> {
  const names = Object.keys(q.classes).sort();
  if (!names.includes(q.defaultClass))
    throw new QosError(
      `qos on ${q.interface}: the default class "${q.defaultClass}" is not among its classes`,
    );
  const out = new Map<string, number>([[q.defaultClass, QOS_DEFAULT_MINOR]]);
  let next = QOS_DEFAULT_MINOR + 0x10;
  for (const n of names) {
    if (n === q.defaultClass) continue;
    out.set(n, next);
    next += 0x10;
  }
  return out;
}

function htbOptions(rate: number, ceil: number, prio?: number): Record<string, number> {
  return {
    ...(prio === undefined ? {} : { prio }),
    rate,
    ceil,
    burst: htbDefaultBurst(rate),
    cburst: htbDefaultBurst(ceil),
  };
}

function checkedRate(bits: number, what: string): number {
  const r = tcRate(bits);
  if (!Number.isFinite(bits) || r < 8) throw new QosError(`${what}: rate ${bits} bit/s is below 8 bit/s`);
  if (r > 8 * 0xffffffff) throw new QosError(`${what}: rate ${bits} bit/s is above what htb can hold`);
  return r;
}

// u32 keys: a 32-bit value/mask at a byte offset of the network header.
const key = (value: number, mask: number, off: number): U32Key => ({
  value: value >>> 0,
  mask: mask >>> 0,
  off,
  nexthdr: false,
});
/** IPv4, header without options (so the transport header starts at byte 20). */
const V4_PLAIN = key(0x45000000, 0xff000000, 0);
const v4Dscp = (d: number) => key(0x40000000 | (d << 18), 0xf0fc0000, 0);
const v4Proto = (p: number) => key(p << 16, 0x00ff0000, 8);
const v4Dport = (port: number) => key(port, 0x0000ffff, 20);
const V6 = key(0x60000000, 0xf0000000, 0);
const v6Dscp = (d: number) => key(0x60000000 | (d << 22), 0xffc00000, 0);
const v6Next = (p: number) => key(p << 8, 0x0000ff00, 4);
/** Right after a fixed IPv6 header (no extension headers). */
const v6Dport = (port: number) => key(port, 0x0000ffff, 40);

const TCP = 6;
const UDP = 17;

/** The desired tree of one interface. */
export function qosTree(q: QosInterface): QosTree {
  const dev = q.interface;
  const minors = classMinors(q);
  const reasons = new Map<string, string>();
  const linkRate = checkedRate(q.rate, `qos on ${dev}`);
  const qdisc: Qdisc = {
    kind: "qdisc",
    dev,
    handle: QOS_ROOT_HANDLE,
    parent: "root",
    qdiscKind: "htb",
    // htb prints its default class's minor in hex.
    options: { r2q: QOS_R2Q, default: `0x${QOS_DEFAULT_MINOR.toString(16)}`, direct_qlen: QOS_DIRECT_QLEN },
  };
  const why = (o: KernelObject, text: string): void => void reasons.set(`${o.kind} ${keyOf(o)}`, text);
  why(qdisc, `qos on ${dev}: htb shaping, unclassified traffic to "${q.defaultClass}"`);
  const classes: TcClass[] = [
    {
      kind: "class",
      dev,
      classid: QOS_LINK_CLASS,
      // The kernel reports a class under the qdisc itself as a root class.
      parent: "root",
      classKind: "htb",
      // An inner class shows no prio.
      options: htbOptions(linkRate, linkRate),
    },
  ];
  why(classes[0]!, `qos on ${dev}: the link's rate, shared by its classes`);
  for (const [name, minor] of [...minors].sort((a, b) => a[1] - b[1])) {
    const c = q.classes[name]!;
    const what = `qos on ${dev}, class ${name}`;
    const cl: TcClass = {
      kind: "class",
      dev,
      classid: classid(minor),
      parent: QOS_LINK_CLASS,
      classKind: "htb",
      options: htbOptions(checkedRate(c.rate, what), checkedRate(c.ceil, what), c.priority),
    };
    classes.push(cl);
    why(
      cl,
      `qos on ${dev}: class ${name}${name === q.defaultClass ? " (default)" : ""}, priority ${c.priority}`,
    );
  }

  // One reason per class, so a plan groups a class's filters under it.
  const classifies = (name: string): string => {
    const c = q.classes[name]!;
    const what = [
      ...(c.dscp === undefined ? [] : [`DSCP ${c.dscp}`]),
      ...(c.ports.length === 0
        ? []
        : [`TCP/UDP destination ports ${[...c.ports].sort((a, b) => a - b).join(", ")}`]),
    ];
    return `${what.join(" and ")} (IPv4 and IPv6) into class ${name}`;
  };
  const nodes: { keys: U32Key[]; flowid: string; name: string }[] = [];
  const names = Object.keys(q.classes).sort();
  for (const name of names) {
    const d = q.classes[name]!.dscp;
    if (d === undefined) continue;
    const flowid = classid(minors.get(name)!);
    nodes.push({ keys: [v4Dscp(d)], flowid, name }, { keys: [v6Dscp(d)], flowid, name });
  }
  for (const name of names) {
    const flowid = classid(minors.get(name)!);
    for (const port of [...q.classes[name]!.ports].sort((a, b) => a - b))
      for (const proto of [TCP, UDP])
        nodes.push(
          { keys: [V4_PLAIN, v4Proto(proto), v4Dport(port)], flowid, name },
          { keys: [V6, v6Next(proto), v6Dport(port)], flowid, name },
        );
  }
  if (nodes.length > MAX_NODES)
    throw new QosError(`qos on ${dev}: ${nodes.length} filters, more than u32's ${MAX_NODES} in one list`);
  const filters = nodes.map((n, i): TcFilter => {
    const f: TcFilter = {
      kind: "filter",
      dev,
      parent: QOS_ROOT_HANDLE,
      protocol: "all",
      pref: QOS_FILTER_PREF,
      filterKind: "u32",
      handle: `${QOS_U32_TABLE}::${(i + 1).toString(16)}`,
      flowid: n.flowid,
      matches: decodeU32(n.keys, "all"),
    };
    why(f, `qos on ${dev}: ${classifies(n.name)}`);
    return f;
  });
  return { qdiscs: [qdisc], classes, filters, reasons };
}

/** The trees of every shaped interface. */
export function qosState(qos: readonly QosInterface[]): QosTree {
  const seen = new Set<string>();
  const trees = qos.map((q) => {
    if (seen.has(q.interface)) throw new QosError(`qos: interface ${q.interface} is shaped twice`);
    seen.add(q.interface);
    return qosTree(q);
  });
  return {
    qdiscs: trees.flatMap((t) => t.qdiscs),
    classes: trees.flatMap((t) => t.classes),
    filters: trees.flatMap((t) => t.filters),
    reasons: new Map(trees.flatMap((t) => [...t.reasons])),
  };
}
