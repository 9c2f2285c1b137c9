// From the schema-valid document (defaults filled in) to the EffectivePolicy, and back.
// toDocument(normalize(doc)) is a complete policy document that loads to the same EffectivePolicy:
// `validate --print-effective` prints it, and the property tests hold us to it.
import type {
  EffectivePolicy,
  Hotspot,
  Metered,
  ProbeTarget,
  QosClass,
  QosInterface,
  Uplink,
  UplinkKind,
  UplinkMatch,
} from "./types.js";
import { UPLINK_KINDS } from "./types.js";
import {
  formatDuration,
  formatPercent,
  formatRate,
  formatSize,
  parseDuration,
  parsePercent,
  parseRate,
  parseSize,
} from "../util/units.js";
import { bigIntToIp, ipToBigInt, parseCidr, parseProbeTarget, subnetBounds } from "./values.js";

// The document after schema validation: shapes are known, so plain records are read with casts.
type Doc = Record<string, unknown>;
const obj = (v: unknown): Doc => (v ?? {}) as Doc;
const str = (v: unknown): string => v as string;
const num = (v: unknown): number => v as number;
const optional = <K extends string, V>(key: K, v: V | undefined): { [P in K]?: V } =>
  (v === undefined ? {} : { [key]: v }) as { [P in K]?: V };

function normalizeUplink(u: Doc, biasByKind: Record<UplinkKind, number>): Uplink {
  const match = u.match as UplinkMatch | undefined;
  const kind = (u.kind as UplinkKind | undefined) ?? match?.kind;
  const bias = (u.bias as number | undefined) ?? (kind ? biasByKind[kind] : undefined);
  const m = u.metered as Doc | undefined;
  const metered: Metered | undefined = m && {
    budget: parseSize(m.budget),
    period: m.period as Metered["period"],
    resetDay: num(m.resetDay),
    onExhausted: m.onExhausted as Metered["onExhausted"],
  };
  const common = {
    ...optional("kind", kind),
    gateway: str(u.gateway),
    addressing: u.addressing as Uplink["addressing"],
    ...optional("address", u.address as string | undefined),
    ...optional("bias", bias),
    use: u.use as Uplink["use"],
    weight: num(u.weight),
    ...optional("metered", metered),
  };
  // A document with both or neither is refused by the semantic checks; the type keeps one.
  if (typeof u.interface === "string") return { name: str(u.name), interface: u.interface, ...common };
  return { name: str(u.name), match: { ...match }, ...common };
}

function normalizeTarget(t: unknown): ProbeTarget {
  const [url, expect] =
    typeof t === "string" ? [t, undefined] : [str(obj(t).url), obj(t).expect as number | undefined];
  const parsed = parseProbeTarget(url, expect);
  if (typeof parsed === "string")
    throw new Error(`internal: probe target passed the schema but not the parser: ${parsed}`);
  return parsed;
}

/**
 * The DHCP pool when the policy gives none: the subnet's hosts from the 10th on, or, when the node's own
 * address lies among them, the larger side of it.
 */
export function defaultDhcpPool(address: string): { start: string; end: string } {
  const c = parseCidr(address)!;
  const kind = c.ip.kind();
  const { first, last } = subnetBounds(c);
  const firstHost = kind === "ipv4" && c.prefix < 31 ? first + 1n : first;
  const lastHost = kind === "ipv4" && c.prefix < 31 ? last - 1n : last;
  const node = ipToBigInt(c.ip);
  const from = first + 10n <= lastHost ? first + 10n : firstHost;
  let [start, end] = [from, lastHost];
  if (node >= from && node <= lastHost) {
    const below: [bigint, bigint] = [from, node - 1n];
    const above: [bigint, bigint] = [node + 1n, lastHost];
    [start, end] = below[1] - below[0] > above[1] - above[0] ? below : above;
  }
  if (start > end) [start, end] = [firstHost, lastHost];
  return { start: bigIntToIp(start, kind).toString(), end: bigIntToIp(end, kind).toString() };
}

function normalizeHotspot(h: Doc): Hotspot {
  const security = h.security as Hotspot["security"];
  const pmf =
    (h.pmf as Hotspot["pmf"] | undefined) ??
    (security === "wpa3" ? "required" : security === "wpa2-wpa3" ? "optional" : "disabled");
  const holdDown = obj(h.holdDown);
  const dhcp = obj(h.dhcp);
  const pool =
    dhcp.start === undefined || dhcp.end === undefined ? defaultDhcpPool(str(h.address)) : undefined;
  return {
    interface: str(h.interface),
    activate: h.activate as Hotspot["activate"],
    holdDown: { raise: parseDuration(holdDown.raise), lower: parseDuration(holdDown.lower) },
    driver: h.driver as Hotspot["driver"],
    shareInterface: h.shareInterface as boolean,
    ssid: str(h.ssid),
    ...optional("country", h.country as string | undefined),
    channel: num(h.channel),
    security,
    pmf,
    ...optional("passphraseFile", h.passphraseFile as string | undefined),
    rotation: h.rotation === "never" ? null : parseDuration(h.rotation),
    onboardingToken: parseDuration(h.onboardingToken),
    clientIsolation: h.clientIsolation as boolean,
    maxClients: num(h.maxClients),
    address: str(h.address),
    dhcp: {
      start: (dhcp.start as string | undefined) ?? pool!.start,
      end: (dhcp.end as string | undefined) ?? pool!.end,
      lease: parseDuration(dhcp.lease),
    },
    nat: h.nat as boolean,
  };
}

/** `25%` of the interface's rate (rounded down to whole bit/s), or a rate. */
function rateOrShare(v: unknown, of: number): number {
  const text = str(v).trim();
  return text.endsWith("%") ? Math.floor((of * parsePercent(text)) / 100) : parseRate(text);
}

function normalizeQos(q: Doc): QosInterface {
  const rate = parseRate(q.rate);
  const classes: Record<string, QosClass> = {};
  for (const [name, c] of Object.entries(obj(q.classes))) {
    const k = obj(c);
    const classRate = rateOrShare(k.rate, rate);
    classes[name] = {
      rate: classRate,
      ceil: k.ceil === undefined ? Math.max(rate, classRate) : rateOrShare(k.ceil, rate),
      priority: num(k.priority),
      ...optional("dscp", k.dscp as number | undefined),
      ports: [...(k.ports as number[])],
    };
  }
  return { interface: str(q.interface), rate, defaultClass: str(q.defaultClass), classes };
}

/** A schema-valid document with defaults filled in → the EffectivePolicy. */
export function normalize(doc: Doc): EffectivePolicy {
  const p = obj(doc.probes);
  const hd = obj(p.holdDown);
  const s = obj(doc.selection);
  const biasByKind = Object.fromEntries(UPLINK_KINDS.map((k) => [k, num(obj(s.biasByKind)[k])])) as Record<
    UplinkKind,
    number
  >;
  const r = obj(doc.routing);
  const d = obj(doc.daemon);
  const range = (v: unknown) => ({ min: num(obj(v).min), max: num(obj(v).max) });
  return {
    version: 1,
    uplinks: (doc.uplinks as Doc[]).map((u) => normalizeUplink(u, biasByKind)),
    probes: {
      targets: (p.targets as unknown[]).map(normalizeTarget),
      quorum: num(p.quorum),
      interval: parseDuration(p.interval),
      timeout: parseDuration(p.timeout),
      jitter: parseDuration(p.jitter),
      failuresBeforeDegraded: num(p.failuresBeforeDegraded),
      failuresBeforeDown: num(p.failuresBeforeDown),
      successesToRecover: num(p.successesToRecover),
      degradedRtt: parseDuration(p.degradedRtt),
      degradedLoss: parsePercent(p.degradedLoss),
      // Hysteresis by default: recovering asks for better than merely not degraded.
      recoverRtt:
        p.recoverRtt === undefined
          ? Math.round(0.8 * parseDuration(p.degradedRtt))
          : parseDuration(p.recoverRtt),
      recoverLoss:
        p.recoverLoss === undefined ? parsePercent(p.degradedLoss) / 2 : parsePercent(p.recoverLoss),
      lossWindow: num(p.lossWindow),
      holdDown: {
        upToDegraded: parseDuration(hd.upToDegraded),
        degradedToDown: parseDuration(hd.degradedToDown),
        downToProbing: parseDuration(hd.downToProbing),
        probingToUp: parseDuration(hd.probingToUp),
      },
      minStateDuration: parseDuration(p.minStateDuration),
      batteryFactor: num(p.batteryFactor),
      meteredFactor: num(p.meteredFactor),
    },
    selection: {
      strategy: s.strategy as EffectivePolicy["selection"]["strategy"],
      weights: {
        latency: num(obj(s.weights).latency),
        loss: num(obj(s.weights).loss),
        success: num(obj(s.weights).success),
      },
      maxRtt: parseDuration(s.maxRtt),
      maxLoss: parsePercent(s.maxLoss),
      biasByKind,
      biasMultiplier: num(s.biasMultiplier),
      switchMargin: num(s.switchMargin),
      thresholds: { fail: num(obj(s.thresholds).fail), recover: num(obj(s.thresholds).recover) },
      rateLimit: { switches: num(obj(s.rateLimit).switches), window: parseDuration(obj(s.rateLimit).window) },
      noUsableUplink: s.noUsableUplink as EffectivePolicy["selection"]["noUsableUplink"],
    },
    routing: {
      tables: range(r.tables),
      priorities: range(r.priorities),
      protocol: num(r.protocol),
      nftTable: str(r.nftTable),
      rpFilter: r.rpFilter as EffectivePolicy["routing"]["rpFilter"],
    },
    ...optional("hotspot", doc.hotspot === undefined ? undefined : normalizeHotspot(obj(doc.hotspot))),
    qos: (doc.qos as Doc[]).map(normalizeQos),
    daemon: {
      stateDir: str(d.stateDir),
      metricsListen: str(d.metricsListen),
      statusSocket: str(d.statusSocket),
      resyncInterval: parseDuration(d.resyncInterval),
      logLevel: d.logLevel as EffectivePolicy["daemon"]["logLevel"],
      drift: driftOf(obj(d.drift)),
    },
  };
}

function targetToDocument(t: ProbeTarget): unknown {
  return t.type === "http" || t.type === "https" ? { url: t.url, expect: t.expectStatus } : t.url;
}

/** The EffectivePolicy as a complete policy document, units written as people write them. */
export function toDocument(p: EffectivePolicy): Record<string, unknown> {
  const pr = p.probes;
  const s = p.selection;
  return {
    version: p.version,
    uplinks: p.uplinks.map((u) => ({
      name: u.name,
      ...(u.interface !== undefined ? { interface: u.interface } : { match: { ...u.match } }),
      ...optional("kind", u.kind),
      gateway: u.gateway,
      addressing: u.addressing,
      ...optional("address", u.address),
      ...optional("bias", u.bias),
      use: u.use,
      weight: u.weight,
      ...optional(
        "metered",
        u.metered && {
          budget: formatSize(u.metered.budget),
          period: u.metered.period,
          resetDay: u.metered.resetDay,
          onExhausted: u.metered.onExhausted,
        },
      ),
    })),
    probes: {
      targets: pr.targets.map(targetToDocument),
      quorum: pr.quorum,
      interval: formatDuration(pr.interval),
      timeout: formatDuration(pr.timeout),
      jitter: formatDuration(pr.jitter),
      failuresBeforeDegraded: pr.failuresBeforeDegraded,
      failuresBeforeDown: pr.failuresBeforeDown,
      successesToRecover: pr.successesToRecover,
      degradedRtt: formatDuration(pr.degradedRtt),
      degradedLoss: formatPercent(pr.degradedLoss),
      recoverRtt: formatDuration(pr.recoverRtt),
      recoverLoss: formatPercent(pr.recoverLoss),
      lossWindow: pr.lossWindow,
      holdDown: {
        upToDegraded: formatDuration(pr.holdDown.upToDegraded),
        degradedToDown: formatDuration(pr.holdDown.degradedToDown),
        downToProbing: formatDuration(pr.holdDown.downToProbing),
        probingToUp: formatDuration(pr.holdDown.probingToUp),
      },
      minStateDuration: formatDuration(pr.minStateDuration),
      batteryFactor: pr.batteryFactor,
      meteredFactor: pr.meteredFactor,
    },
    selection: {
      strategy: s.strategy,
      weights: { ...s.weights },
      maxRtt: formatDuration(s.maxRtt),
      maxLoss: formatPercent(s.maxLoss),
      biasByKind: { ...s.biasByKind },
      biasMultiplier: s.biasMultiplier,
      switchMargin: s.switchMargin,
      thresholds: { ...s.thresholds },
      rateLimit: { switches: s.rateLimit.switches, window: formatDuration(s.rateLimit.window) },
      noUsableUplink: s.noUsableUplink,
    },
    routing: {
      tables: { ...p.routing.tables },
      priorities: { ...p.routing.priorities },
      protocol: p.routing.protocol,
      nftTable: p.routing.nftTable,
      rpFilter: p.routing.rpFilter,
    },
    ...optional("hotspot", p.hotspot && hotspotToDocument(p.hotspot)),
    qos: p.qos.map((q) => ({
      interface: q.interface,
      rate: formatRate(q.rate),
      defaultClass: q.defaultClass,
      classes: Object.fromEntries(
        Object.entries(q.classes).map(([name, c]) => [
          name,
          {
            rate: formatRate(c.rate),
            ceil: formatRate(c.ceil),
            priority: c.priority,
            ...optional("dscp", c.dscp),
            ports: [...c.ports],
          },
        ]),
      ),
    })),
    daemon: { ...p.daemon, resyncInterval: formatDuration(p.daemon.resyncInterval) },
  };
}

function hotspotToDocument(h: Hotspot): Record<string, unknown> {
  return {
    interface: h.interface,
    activate: h.activate,
    holdDown: { raise: formatDuration(h.holdDown.raise), lower: formatDuration(h.holdDown.lower) },
    driver: h.driver,
    shareInterface: h.shareInterface,
    ssid: h.ssid,
    ...optional("country", h.country),
    channel: h.channel,
    security: h.security,
    pmf: h.pmf,
    ...optional("passphraseFile", h.passphraseFile),
    rotation: h.rotation === null ? "never" : formatDuration(h.rotation),
    onboardingToken: formatDuration(h.onboardingToken),
    clientIsolation: h.clientIsolation,
    maxClients: h.maxClients,
    address: h.address,
    dhcp: { start: h.dhcp.start, end: h.dhcp.end, lease: formatDuration(h.dhcp.lease) },
    nat: h.nat,
  };
}

function driftOf(d: Doc): EffectivePolicy["daemon"]["drift"] {
  return {
    heal: d.heal as boolean,
    ...optional("webhook", d.webhook === undefined ? undefined : str(d.webhook)),
  };
}
