// Semantic checks: what the schema cannot say. Each check is a pure function of the document and the
// effective policy, and reports issues at JSON pointers (the loader turns them into file:line:col).
import type { FileReading } from "./read-file.js";
import type { EffectivePolicy, Hotspot, QosInterface, Severity } from "./types.js";
import { pointerOf } from "./pointer.js";
import { formatRate } from "../util/units.js";
import type { DiagnosticCode } from "./catalogue.js";
import {
  CONTROL_CHAR,
  describeControlChar,
  globMatches,
  hostOf,
  inSubnet,
  ipToBigInt,
  parseCidr,
  parseIp,
  passphraseProblem,
  ssidProblem,
  subnetBounds,
  type Cidr,
} from "./values.js";

export interface CheckIssue {
  readonly severity: Severity;
  readonly code: DiagnosticCode;
  readonly summary: string;
  readonly detail?: string;
  readonly pointer: string;
}

type Doc = Record<string, unknown>;

const error = (code: DiagnosticCode, pointer: string, summary: string, detail?: string): CheckIssue => ({
  severity: "error",
  code,
  summary,
  pointer,
  ...(detail ? { detail } : {}),
});
const warning = (code: DiagnosticCode, pointer: string, summary: string, detail?: string): CheckIssue => ({
  ...error(code, pointer, summary, detail),
  severity: "warning",
});

/** Control characters anywhere (keys or values) would split lines of generated config files. */
export function hostileText(doc: unknown, pointer = ""): CheckIssue[] {
  if (typeof doc === "string") {
    return CONTROL_CHAR.test(doc)
      ? [
          error(
            "control-character",
            pointer,
            `the value contains ${describeControlChar(doc)}`,
            "values reach commands and generated config files (hostapd, dnsmasq), where control characters could inject lines; remove it",
          ),
        ]
      : [];
  }
  if (Array.isArray(doc)) return doc.flatMap((v, i) => hostileText(v, `${pointer}/${i}`));
  if (doc !== null && typeof doc === "object") {
    return Object.entries(doc).flatMap(([k, v]) => {
      const p = pointerOf(k);
      const here = `${pointer}${p}`;
      const keyIssue = CONTROL_CHAR.test(k)
        ? [
            error(
              "control-character",
              here,
              `the key ${JSON.stringify(k)} contains ${describeControlChar(k)}`,
            ),
          ]
        : [];
      return [...keyIssue, ...hostileText(v, here)];
    });
  }
  return [];
}

function checkUplinks(doc: Doc, p: EffectivePolicy): CheckIssue[] {
  const out: CheckIssue[] = [];
  const raw = doc.uplinks as Doc[];
  const names = new Map<string, number>();
  const interfaces = new Map<string, number>();
  p.uplinks.forEach((u, i) => {
    const at = (...rest: (string | number)[]) => pointerOf("uplinks", i, ...rest);
    const first = names.get(u.name);
    if (first !== undefined) {
      out.push(
        error(
          "duplicate-uplink",
          at("name"),
          `uplink name "${u.name}" is already used by uplink ${first + 1}`,
          "uplink names are unique",
        ),
      );
    } else names.set(u.name, i);
    const r = raw[i]!;
    if (r.interface !== undefined && r.match !== undefined) {
      out.push(
        error(
          "interface-and-match",
          at("match"),
          `uplink "${u.name}" gives both "interface" and "match"`,
          "give the interface name, or a match to find it at run time, not both",
        ),
      );
    } else if (r.interface === undefined && r.match === undefined) {
      out.push(
        error(
          "no-interface",
          at(),
          `uplink "${u.name}" names no interface`,
          'give "interface: <name>" or "match: {kind: ..., name: ...}"',
        ),
      );
    }
    if (u.interface !== undefined) {
      const other = interfaces.get(u.interface);
      if (other !== undefined) {
        out.push(
          error(
            "interface-claimed-twice",
            at("interface"),
            `interface "${u.interface}" is claimed by uplinks "${p.uplinks[other]!.name}" and "${u.name}"`,
            "each interface belongs to one uplink",
          ),
        );
      } else interfaces.set(u.interface, i);
    }
    if (
      u.match?.kind !== undefined &&
      u.kind !== undefined &&
      r.kind !== undefined &&
      r.kind !== u.match.kind
    ) {
      out.push(
        error(
          "kind-mismatch",
          at("kind"),
          `uplink "${u.name}" has kind "${String(r.kind)}" but matches kind "${u.match.kind}"`,
        ),
      );
    }
    if (u.addressing === "static" && u.address === undefined) {
      out.push(
        error(
          "address-missing",
          at("addressing"),
          `uplink "${u.name}" has static addressing but no "address"`,
          "give address: <ip>/<prefix>",
        ),
      );
    }
    if (u.addressing !== "static" && u.address !== undefined) {
      out.push(
        error(
          "address-unused",
          at("address"),
          `uplink "${u.name}" gives an address, but its addressing is "${u.addressing}"`,
          'set addressing: static, or remove "address"',
        ),
      );
    }
    if (u.address !== undefined) {
      const c = parseCidr(u.address)!;
      const bounds = subnetBounds(c);
      const host = ipToBigInt(c.ip);
      if (c.ip.kind() === "ipv4" && c.prefix < 31 && (host === bounds.first || host === bounds.last)) {
        out.push(
          error(
            "address-not-host",
            at("address"),
            `${u.address} is the network or broadcast address of its subnet`,
            "give the interface's own address",
          ),
        );
      }
      if (u.gateway !== "auto") {
        const gw = parseIp(u.gateway)!;
        if (gw.kind() !== c.ip.kind()) {
          out.push(
            error(
              "gateway-family",
              at("gateway"),
              `gateway ${u.gateway} and address ${u.address} are of different IP families`,
            ),
          );
        } else if (!inSubnet(gw, c)) {
          out.push(
            warning(
              "gateway-off-subnet",
              at("gateway"),
              `gateway ${u.gateway} is outside ${u.address}'s subnet; the route will be on-link`,
            ),
          );
        }
      }
    }
    if (u.metered?.period === "weekly" && u.metered.resetDay > 7) {
      out.push(
        error(
          "reset-day",
          at("metered", "resetDay"),
          `a weekly budget resets on an ISO weekday 1-7, not ${u.metered.resetDay}`,
        ),
      );
    }
    if (u.metered && u.metered.budget <= 0) {
      out.push(
        error(
          "not-positive",
          at("metered", "budget"),
          "a budget of 0 bytes is always exhausted",
          'use "use: never" instead',
        ),
      );
    }
  });
  // A pattern that matches another uplink's fixed interface makes the match ambiguous.
  p.uplinks.forEach((u, i) => {
    const name = u.match?.name;
    if (name === undefined) return;
    for (const v of p.uplinks) {
      if (v.interface !== undefined && globMatches(name, v.interface)) {
        out.push(
          warning(
            "match-overlap",
            pointerOf("uplinks", i, "match", "name"),
            `the pattern "${name}" of uplink "${u.name}" also matches "${v.interface}", the interface of uplink "${v.name}"`,
            "the named interface stays with its uplink; the pattern takes the others",
          ),
        );
      }
    }
  });
  if (p.uplinks.length > 0 && p.uplinks.every((u) => u.use !== "normal")) {
    out.push(
      warning(
        "no-normal-uplink",
        "/uplinks",
        'no uplink has "use: normal"; general traffic only ever uses emergency uplinks',
      ),
    );
  }
  return out;
}

function checkProbes(doc: Doc, p: EffectivePolicy): CheckIssue[] {
  const out: CheckIssue[] = [];
  const rawTargets = ((doc.probes as Doc).targets ?? []) as unknown[];
  const pr = p.probes;
  const at = (...rest: (string | number)[]) => pointerOf("probes", ...rest);
  if (pr.interval < 100)
    out.push(
      error(
        "too-short",
        at("interval"),
        `a probe interval of ${pr.interval}ms is too short`,
        "probe at most every 100ms",
      ),
    );
  if (pr.timeout <= 0)
    out.push(error("not-positive", at("timeout"), "the probe timeout must be longer than 0s"));
  if (pr.timeout >= pr.interval) {
    out.push(
      error(
        "timeout-not-below-interval",
        at("timeout"),
        `probe timeout (${pr.timeout}ms) must be shorter than the interval (${pr.interval}ms)`,
        "otherwise rounds overlap",
      ),
    );
  }
  if (pr.jitter >= pr.interval) {
    out.push(
      error(
        "jitter-not-below-interval",
        at("jitter"),
        `probe jitter (${pr.jitter}ms) must be shorter than the interval (${pr.interval}ms)`,
      ),
    );
  }
  if (pr.failuresBeforeDown <= pr.failuresBeforeDegraded) {
    out.push(
      error(
        "down-before-degraded",
        at("failuresBeforeDown"),
        `failuresBeforeDown (${pr.failuresBeforeDown}) must be more than failuresBeforeDegraded (${pr.failuresBeforeDegraded})`,
        "an uplink is Degraded before it is Down",
      ),
    );
  }
  if (pr.recoverRtt > pr.degradedRtt)
    out.push(
      error(
        "recover-above-degraded",
        at("recoverRtt"),
        `recoverRtt (${pr.recoverRtt}ms) must not be above degradedRtt (${pr.degradedRtt}ms)`,
        "an uplink must be at least as good to recover as it was allowed to be before it degraded",
      ),
    );
  if (pr.recoverLoss > pr.degradedLoss)
    out.push(
      error(
        "recover-above-degraded",
        at("recoverLoss"),
        `recoverLoss (${pr.recoverLoss}%) must not be above degradedLoss (${pr.degradedLoss}%)`,
        "an uplink must be at least as good to recover as it was allowed to be before it degraded",
      ),
    );
  if (pr.quorum > pr.targets.length) {
    out.push(
      error(
        "quorum-too-large",
        at("quorum"),
        `quorum ${pr.quorum} is more than the ${pr.targets.length} target(s)`,
        "no round could ever succeed",
      ),
    );
  }
  const raw = new Set<string>();
  pr.targets.forEach((t, i) => {
    if (raw.has(t.url))
      out.push(error("duplicate-target", at("targets", i), `probe target ${t.url} is listed twice`));
    const r = rawTargets[i];
    if (typeof r === "object" && r !== null && "expect" in r && t.type !== "http" && t.type !== "https") {
      out.push(
        error(
          "expect-not-http",
          at("targets", i, "expect"),
          `"expect" is an HTTP status; ${t.url} is a ${t.type} target`,
        ),
      );
    }
    raw.add(t.url);
  });
  return out;
}

function checkSelection(p: EffectivePolicy): CheckIssue[] {
  const s = p.selection;
  const out: CheckIssue[] = [];
  if (s.thresholds.recover < s.thresholds.fail) {
    out.push(
      error(
        "recover-below-fail",
        pointerOf("selection", "thresholds", "recover"),
        `recover (${s.thresholds.recover}) is below fail (${s.thresholds.fail})`,
        "an uplink becomes usable again at a score at least as high as the one it failed at",
      ),
    );
  }
  if (s.maxRtt <= 0)
    out.push(error("not-positive", pointerOf("selection", "maxRtt"), "maxRtt must be longer than 0s"));
  if (s.maxLoss <= 0)
    out.push(error("not-positive", pointerOf("selection", "maxLoss"), "maxLoss must be more than 0%"));
  if (s.rateLimit.window <= 0)
    out.push(
      error(
        "not-positive",
        pointerOf("selection", "rateLimit", "window"),
        "the rate limit window must be longer than 0s",
      ),
    );
  return out;
}

// Kernel routing protocol numbers (rtnetlink.h) and those of well-known routing daemons.
const RESERVED_PROTOCOLS = new Set([0, 1, 2, 3, 4]);
const DAEMON_PROTOCOLS: Readonly<Record<number, string>> = {
  8: "gated",
  9: "ra",
  10: "mrt",
  11: "zebra",
  12: "bird",
  13: "dnrouted",
  14: "xorp",
  15: "ntk",
  16: "dhcp",
  17: "mrouted",
  18: "keepalived",
  42: "babel",
  99: "openr",
  186: "bgp",
  187: "isis",
  188: "ospf",
  189: "rip",
  192: "eigrp",
};

function checkRouting(p: EffectivePolicy): CheckIssue[] {
  const out: CheckIssue[] = [];
  const { tables, priorities, protocol } = p.routing;
  const n = p.uplinks.length;
  if (tables.min > tables.max) {
    out.push(
      error(
        "range-order",
        pointerOf("routing", "tables"),
        `table range ${tables.min}-${tables.max} is empty (min is above max)`,
      ),
    );
  } else {
    const kernel = [0, 253, 254, 255].filter((t) => t >= tables.min && t <= tables.max);
    if (kernel.length > 0 || tables.max > 0xfffffffe) {
      out.push(
        error(
          "range-overlap",
          pointerOf("routing", "tables"),
          `table range ${tables.min}-${tables.max} overlaps the kernel's tables (${kernel.join(", ") || "above 2^32-2"})`,
          "0 is unspec, 253 default, 254 main, 255 local: choose e.g. 100-199",
        ),
      );
    }
    if (tables.max - tables.min + 1 < n + 1) {
      out.push(
        error(
          "range-too-small",
          pointerOf("routing", "tables"),
          `table range ${tables.min}-${tables.max} holds ${tables.max - tables.min + 1} table(s); ${n + 1} are needed`,
          "one per uplink plus one for the active route",
        ),
      );
    }
  }
  if (priorities.min > priorities.max) {
    out.push(
      error(
        "range-order",
        pointerOf("routing", "priorities"),
        `priority range ${priorities.min}-${priorities.max} is empty (min is above max)`,
      ),
    );
  } else {
    if (priorities.min < 1 || priorities.max > 32765) {
      out.push(
        error(
          "range-overlap",
          pointerOf("routing", "priorities"),
          `priority range ${priorities.min}-${priorities.max} overlaps the kernel's rules (0 local, 32766 main, 32767 default)`,
          "backhaul's rules must come after the local rule and before the main table: choose e.g. 1000-1099",
        ),
      );
    }
    // The local-first rule, one source rule per uplink, the catch-all rule, and one for the hotspot.
    const needed = n + 3;
    if (priorities.max - priorities.min + 1 < needed) {
      out.push(
        error(
          "range-too-small",
          pointerOf("routing", "priorities"),
          `priority range ${priorities.min}-${priorities.max} holds ${priorities.max - priorities.min + 1} priorities; ${needed} are needed`,
          "one per uplink plus three (local first, catch-all, hotspot)",
        ),
      );
    }
  }
  if (RESERVED_PROTOCOLS.has(protocol)) {
    out.push(
      error(
        "protocol-reserved",
        pointerOf("routing", "protocol"),
        `route protocol ${protocol} is reserved by the kernel (0-4)`,
        "choose a number such as 201",
      ),
    );
  } else if (DAEMON_PROTOCOLS[protocol]) {
    out.push(
      warning(
        "protocol-shared",
        pointerOf("routing", "protocol"),
        `route protocol ${protocol} is "${DAEMON_PROTOCOLS[protocol]}"; backhaul would treat that daemon's routes as its own`,
        "choose an unused number such as 201",
      ),
    );
  }
  return out;
}

/** Channels a radio may use: 1-14 (2.4 GHz) and the 5 GHz channels. */
const CHANNELS_5GHZ = new Set([
  32, 36, 40, 44, 48, 52, 56, 60, 64, 68, 96, 100, 104, 108, 112, 116, 120, 124, 128, 132, 136, 140, 144, 149,
  153, 157, 161, 165, 169, 173, 177,
]);

function checkHotspot(doc: Doc, p: EffectivePolicy, h: Hotspot, read: ReadSecret): CheckIssue[] {
  const out: CheckIssue[] = [];
  const raw = doc.hotspot as Doc;
  const at = (...rest: (string | number)[]) => pointerOf("hotspot", ...rest);
  const ssid = ssidProblem(h.ssid);
  if (ssid && !CONTROL_CHAR.test(h.ssid)) out.push(error("bad-ssid", at("ssid"), ssid));
  if (!(h.channel <= 14 || CHANNELS_5GHZ.has(h.channel))) {
    out.push(
      error(
        "bad-channel",
        at("channel"),
        `channel ${h.channel} does not exist`,
        "use 1-14 (2.4 GHz) or a 5 GHz channel such as 36",
      ),
    );
  }
  // The interface: claimed by an uplink only on purpose.
  if (!h.shareInterface) {
    p.uplinks.forEach((u, i) => {
      const byName = u.interface === h.interface;
      const byPattern = u.match?.name !== undefined && globMatches(u.match.name, h.interface);
      if (byName || byPattern) {
        out.push(
          error(
            "hotspot-interface-is-uplink",
            at("interface"),
            `the hotspot's interface "${h.interface}" is also ${byName ? "the interface" : "matched by the pattern"} of uplink "${u.name}"`,
            `use another interface, or set hotspot.shareInterface: true if the radio serves both (uplinks/${i})`,
          ),
        );
      }
    });
  }
  // Security.
  if (h.security === "open") {
    if (h.passphraseFile !== undefined) {
      out.push(
        error(
          "wpa-inconsistent",
          at("passphraseFile"),
          "an open hotspot has no passphrase",
          "remove passphraseFile, or choose wpa2, wpa3 or wpa2-wpa3",
        ),
      );
    }
    if (h.driver !== "wired")
      out.push(warning("open-hotspot", at("security"), "the hotspot is open: anyone nearby can join"));
  } else {
    if (h.rotation !== null && h.rotation < 60_000)
      out.push(error("too-short", at("rotation"), "a passphrase rotation is at least 1m apart", "or never"));
    if (h.onboardingToken < 10_000 || h.onboardingToken > 86_400_000)
      out.push(error("out-of-range", at("onboardingToken"), "an onboarding token lives from 10s to 24h"));
    // Without a passphraseFile backhaul generates the passphrase (and rotates it on schedule).
    if (h.passphraseFile !== undefined) {
      out.push(...checkPassphraseFile(h.passphraseFile, at("passphraseFile"), read));
      if (raw.rotation !== undefined && h.rotation !== null)
        out.push(
          warning(
            "rotation-of-own-file",
            at("rotation"),
            "rotation applies to the passphrase backhaul generates: a passphraseFile is yours, read and never rewritten (a change to it reaches the access point by a reload)",
            "leave out passphraseFile to have backhaul generate and rotate the passphrase, or remove rotation",
          ),
        );
    }
    if (h.driver === "wired") {
      out.push(
        warning(
          "wired-security",
          at("security"),
          "the wired driver has no radio; WPA settings have no effect there",
          "use security: open in a lab",
        ),
      );
    }
  }
  if (h.security === "wpa3" && h.pmf !== "required") {
    out.push(
      error(
        "wpa-inconsistent",
        at("pmf"),
        `WPA3 requires protected management frames: pmf must be "required", not "${h.pmf}"`,
      ),
    );
  }
  if (h.security === "wpa2-wpa3" && h.pmf === "disabled") {
    out.push(
      error(
        "wpa-inconsistent",
        at("pmf"),
        'WPA2/WPA3 mixed mode needs pmf "optional" (or "required"), not "disabled"',
      ),
    );
  }
  if ((h.security === "open" || h.security === "wpa2") && h.pmf === "required" && raw.pmf !== undefined) {
    out.push(
      warning(
        "wpa-inconsistent",
        at("pmf"),
        `pmf "required" with security "${h.security}" keeps older clients out`,
      ),
    );
  }
  // Addresses.
  const c = parseCidr(h.address)!;
  const v4 = c.ip.kind() === "ipv4";
  if ((v4 && (c.prefix < 8 || c.prefix > 30)) || (!v4 && (c.prefix < 48 || c.prefix > 126))) {
    out.push(
      error(
        "bad-subnet",
        at("address"),
        `prefix /${c.prefix} does not fit a hotspot`,
        v4 ? "use /8 to /30 (e.g. /24)" : "use /48 to /126 (e.g. /64)",
      ),
    );
    return out;
  }
  const bounds = subnetBounds(c);
  const node = ipToBigInt(c.ip);
  if (v4 && (node === bounds.first || node === bounds.last)) {
    out.push(
      error(
        "address-not-host",
        at("address"),
        `${h.address} is the network or broadcast address of its subnet`,
        "give the node's own address, e.g. x.y.z.1/24",
      ),
    );
  }
  out.push(...checkDhcp(h, c, raw));
  for (const [i, u] of p.uplinks.entries()) {
    if (u.address === undefined) continue;
    const uc = parseCidr(u.address)!;
    if (uc.ip.kind() !== c.ip.kind()) continue;
    const ub = subnetBounds(uc);
    if (ub.first <= bounds.last && bounds.first <= ub.last) {
      out.push(
        error(
          "subnet-overlap",
          at("address"),
          `the hotspot subnet ${h.address} overlaps uplink "${u.name}"'s ${u.address} (uplinks/${i})`,
        ),
      );
    }
  }
  return out;
}

function checkDhcp(h: Hotspot, c: Cidr, raw: Doc): CheckIssue[] {
  const out: CheckIssue[] = [];
  const dhcp = (raw.dhcp ?? {}) as Doc;
  // A pool the policy does not give is derived from the address: report it there.
  const ptr = (k: "start" | "end") =>
    dhcp[k] !== undefined ? pointerOf("hotspot", "dhcp", k) : pointerOf("hotspot", "address");
  const start = parseIp(h.dhcp.start)!;
  const end = parseIp(h.dhcp.end)!;
  const bounds = subnetBounds(c);
  const v4 = c.ip.kind() === "ipv4";
  for (const [k, ip] of [
    ["start", start],
    ["end", end],
  ] as const) {
    if (ip.kind() !== c.ip.kind()) {
      out.push(error("dhcp-range", ptr(k), `DHCP ${k} ${ip.toString()} is not of the hotspot's IP family`));
      return out;
    }
    const n = ipToBigInt(ip);
    if (!inSubnet(ip, c) || (v4 && (n === bounds.first || n === bounds.last))) {
      out.push(
        error(
          "dhcp-range",
          ptr(k),
          `DHCP ${k} ${h.dhcp[k]} is outside the hotspot's hosts (${h.address})`,
          "the pool lies inside the hotspot subnet, without its network and broadcast addresses",
        ),
      );
    }
  }
  const s = ipToBigInt(start);
  const e = ipToBigInt(end);
  if (s > e)
    out.push(error("dhcp-range", ptr("end"), `DHCP end ${h.dhcp.end} comes before start ${h.dhcp.start}`));
  const node = ipToBigInt(c.ip);
  if (s <= node && node <= e) {
    out.push(
      error(
        "dhcp-range",
        ptr("start"),
        `the DHCP pool ${h.dhcp.start}-${h.dhcp.end} contains the node's own address ${c.ip.toString()}`,
      ),
    );
  }
  if (h.dhcp.lease < 60_000)
    out.push(error("too-short", pointerOf("hotspot", "dhcp", "lease"), "a DHCP lease is at least 1m"));
  return out;
}

/** Reads a file the policy names (at the edge: policy/load.ts); the checks only judge the reading. */
export type ReadSecret = (path: string) => FileReading;

function checkPassphraseFile(path: string, pointer: string, read: ReadSecret): CheckIssue[] {
  const r = read(path);
  if (!r.ok) {
    // A missing or unreadable file may appear before the hotspot starts; anything else never becomes one.
    if (r.reason === "missing" || r.reason === "unreadable")
      return [
        warning(
          "passphrase-unreadable",
          pointer,
          `${r.message}; it is checked again when the hotspot starts`,
        ),
      ];
    return [
      error(
        "bad-passphrase",
        pointer,
        r.reason === "exposed" ? r.message : `${r.message}: a passphrase file is a small regular file`,
      ),
    ];
  }
  // One final newline is how editors end a file; a CR or any other control character is refused.
  const problem = passphraseProblem(r.text.replace(/\n$/, ""));
  return problem ? [error("bad-passphrase", pointer, `${path}: ${problem}`)] : [];
}

function checkQos(q: QosInterface, i: number, p: EffectivePolicy): CheckIssue[] {
  const out: CheckIssue[] = [];
  const at = (...rest: (string | number)[]) => pointerOf("qos", i, ...rest);
  if (q.rate <= 0) out.push(error("not-positive", at("rate"), "the interface rate must be more than 0"));
  if (!(q.defaultClass in q.classes)) {
    out.push(
      error(
        "unknown-class",
        at("defaultClass"),
        `default class "${q.defaultClass}" is not one of the classes (${Object.keys(q.classes).join(", ")})`,
      ),
    );
  }
  let sum = 0;
  const ports = new Map<number, string>();
  const dscps = new Map<number, string>();
  for (const [name, c] of Object.entries(q.classes)) {
    sum += c.rate;
    if (c.rate <= 0)
      out.push(error("not-positive", at("classes", name, "rate"), `class "${name}" has no rate`));
    if (c.rate > c.ceil)
      out.push(
        error(
          "rate-above-ceil",
          at("classes", name, "ceil"),
          `class "${name}": rate ${formatRate(c.rate)} is above its ceil ${formatRate(c.ceil)}`,
        ),
      );
    if (c.ceil > q.rate) {
      out.push(
        error(
          "ceil-above-rate",
          at("classes", name, c.rate > q.rate ? "rate" : "ceil"),
          `class "${name}" may use up to ${formatRate(c.ceil)}, more than the interface's ${formatRate(q.rate)}`,
        ),
      );
    }
    for (const port of c.ports) {
      const other = ports.get(port);
      if (other)
        out.push(
          error(
            "port-claimed-twice",
            at("classes", name, "ports"),
            `port ${port} is in classes "${other}" and "${name}"`,
          ),
        );
      else ports.set(port, name);
    }
    if (c.dscp !== undefined) {
      const other = dscps.get(c.dscp);
      if (other)
        out.push(
          error(
            "dscp-claimed-twice",
            at("classes", name, "dscp"),
            `DSCP ${c.dscp} is in classes "${other}" and "${name}"`,
          ),
        );
      else dscps.set(c.dscp, name);
    }
  }
  if (sum > q.rate) {
    out.push(
      warning(
        "rates-oversubscribed",
        at("classes"),
        `the classes' rates add up to ${formatRate(sum)}, more than the interface's ${formatRate(q.rate)}`,
        "HTB cannot guarantee them all",
      ),
    );
  }
  const first = p.qos.findIndex((o) => o.interface === q.interface);
  if (first !== i)
    out.push(
      error("duplicate-qos", at("interface"), `interface "${q.interface}" already has QoS (qos/${first})`),
    );
  return out;
}

function checkDaemon(p: EffectivePolicy): CheckIssue[] {
  const host = hostOf(p.daemon.metricsListen);
  const ip = parseIp(host);
  const loopback = host === "localhost" || (ip !== undefined && ip.range() === "loopback");
  return loopback
    ? []
    : [
        warning(
          "metrics-exposed",
          pointerOf("daemon", "metricsListen"),
          `metrics listen on ${p.daemon.metricsListen}, not on loopback`,
          "anyone who reaches that address can read the node's network state",
        ),
      ];
}

/** Every semantic check. `doc` is the schema-valid document (with defaults), `p` its normalization. */
export function semanticIssues(doc: Doc, p: EffectivePolicy, read: ReadSecret): CheckIssue[] {
  return [
    ...checkUplinks(doc, p),
    ...checkProbes(doc, p),
    ...checkSelection(p),
    ...checkRouting(p),
    ...(p.hotspot ? checkHotspot(doc, p, p.hotspot, read) : []),
    ...p.qos.flatMap((q, i) => checkQos(q, i, p)),
    ...checkDaemon(p),
  ];
}
