// Links: observed (admin state, carrier, class), changed only in admin state and MTU, never created or
// deleted by backhaul (uplinks and the hotspot are interfaces the node has).
import { RenderError, type KindDriver, type ShowContext, COMMON_PARTS } from "../driver.js";
import { arr, mapDefined, num, obj, objects, str } from "../json.js";
import { classifyLink, type LinkClass, type LinkFacts } from "../link-class.js";
import { factsOf, ipSection } from "../raw.js";
import type { KernelState } from "../types.js";
import { dev, u32 } from "./common.js";
import { columns } from "../show-text.js";

export interface Link {
  readonly kind: "link";
  readonly name: string;
  readonly index: number;
  readonly linkClass: LinkClass;
  /** Administratively up (IFF_UP). */
  readonly adminUp: boolean;
  /** Carrier present (IFF_LOWER_UP). */
  readonly carrier: boolean;
  /** Kernel operstate, lower-case: "up", "down", "unknown", "lowerlayerdown", ... */
  readonly operState: string;
  readonly mtu: number;
  readonly mac?: string;
  readonly driver?: string;
  /** The kernel's link type for virtual links ("veth", "bridge", "wireguard", ...), from rtnetlink. */
  readonly linkKind?: string;
}

const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

/** Links from `ip -j -d address show`; facts are the sysfs facts per interface name. */
export function parseLinks(json: unknown, facts: ReadonlyMap<string, LinkFacts>): Link[] {
  return mapDefined(objects(json), (o) => {
    const name = str(o, "ifname");
    const index = num(o, "ifindex");
    const mtu = num(o, "mtu");
    const operState = str(o, "operstate");
    const flags = arr(o, "flags");
    if (name === undefined || index === undefined || mtu === undefined || operState === undefined) return;
    if (flags === undefined) return;
    const linkKind = str(obj(o, "linkinfo") ?? {}, "info_kind");
    const f = facts.get(name) ?? { name, wireless: false };
    const mac = str(o, "address")?.toLowerCase();
    const link: Link = {
      kind: "link",
      name,
      index,
      linkClass: classifyLink({ ...f, name }),
      adminUp: flags.includes("UP"),
      carrier: flags.includes("LOWER_UP"),
      operState: operState.toLowerCase(),
      mtu,
      ...(mac !== undefined && MAC.test(mac) ? { mac } : {}),
      ...(f.driver !== undefined ? { driver: f.driver } : {}),
      ...(linkKind !== undefined ? { linkKind } : {}),
    };
    return link;
  });
}

/** Links `show` lists by default: those that could be an uplink or a hotspot. */
export function showableLinks(links: readonly Link[]): ReadonlySet<string> {
  return new Set(links.filter((l) => l.linkClass !== "other").map((l) => l.name));
}

function linkRows(links: readonly Link[], s: KernelState): string[] {
  const addrs = (l: Link): string =>
    s.address
      .filter((a) => a.dev === l.name)
      .map((a) => a.local + (a.peer !== undefined ? ` peer ${a.peer}` : ""))
      .join(" ") || "-";
  return columns([
    ["NAME", "CLASS", "ADMIN", "OPER", "CARRIER", "MTU", "DRIVER", "MAC", "ADDRESSES"],
    ...[...links]
      .sort((a, b) => a.index - b.index)
      .map((l) => [
        l.name,
        l.linkClass,
        l.adminUp ? "up" : "down",
        l.operState,
        l.carrier ? "yes" : "no",
        String(l.mtu),
        l.driver ?? l.linkKind ?? "-",
        l.mac ?? "-",
        addrs(l),
      ]),
  ]);
}

export const link: KindDriver<Link, KernelState> = {
  kind: "link",
  ...COMMON_PARTS,
  key: (o) => o.name,
  owned: () => false,
  sources: ["ip-address", "sysfs"],
  observe: (raw) => parseLinks(ipSection(raw, "address"), factsOf(raw).links),
  inPlace: true,
  deletable: () => false,
  rank: 0,
  command: {
    tool: "ip",
    render(op) {
      if (op.op !== "change")
        throw new RenderError(
          `links are not created or deleted by backhaul (${(op.op === "add" ? op.after : op.before).name})`,
        );
      const { before, after } = op;
      const out = ["link", "set", "dev", dev(after.name)];
      if (before.adminUp !== after.adminUp) out.push(after.adminUp ? "up" : "down");
      if (before.mtu !== after.mtu) out.push("mtu", u32(after.mtu, "mtu", 68));
      return out.length > 4 ? [{ text: out.join(" ") }] : [];
    },
  },
  describe: (o) => `${o.name} ${o.adminUp ? "up" : "down"} mtu ${o.mtu}`,
  disruption(op) {
    if (op.op !== "change") return "in-place";
    return op.before.adminUp !== op.after.adminUp || op.before.mtu !== op.after.mtu ? "flap" : "in-place";
  },
  affectsLookup: () => true,
  slot: (o) => `link ${o.name}`,
  policyRef: (o) => ({ iface: o.name }),
  show: {
    place: 0,
    keep: (o, ctx: ShowContext<KernelState>) => ctx.links.has(o.name),
    sections: (links, ctx) => [
      {
        title: `Links${ctx.netns !== undefined ? ` (netns ${ctx.netns})` : ""}`,
        lines: links.length > 0 ? linkRows(links, ctx.state) : [],
      },
    ],
  },
  cleanup: "keep",
};
