// What `backhaul status` prints for people: the daemon's snapshot as a few sections and tables.
// Pure: the same snapshot and moment give the same text.
import type {
  Condition,
  DaemonStatus,
  PassRecord,
  UplinkStatus,
  UsageStatus,
} from "../daemon/status-model.js";
import type { ServiceStatus } from "../daemon/service-watch.js";
import type { HotspotStatus } from "../daemon/hotspot-status.js";
import { columns } from "../kinds/show-text.js";
import { visible } from "./terminal.js";

/** 42s, 5m10s, 3h17m, 2d4h: the two largest units. */
export function formatAge(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  const units: readonly (readonly [string, number])[] = [
    ["d", 86_400],
    ["h", 3_600],
    ["m", 60],
    ["s", 1],
  ];
  const i = units.findIndex(([, f]) => s >= f);
  if (i < 0) return "0s";
  const [u1, f1] = units[i]!;
  const first = `${Math.floor(s / f1)}${u1}`;
  const next = units[i + 1];
  if (next === undefined) return first;
  const rest = Math.floor((s % f1) / next[1]);
  return rest > 0 ? `${first}${rest}${next[0]}` : first;
}

/** 1.25 GiB, 3 MiB, 512 B: binary units, at most three significant digits. */
export function formatBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = bytes;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : Number(v.toPrecision(3))} ${units[i]}`;
}

const number = (x: number): string => String(Number(x.toFixed(x < 10 ? 2 : 1)));

function usageText(u: UsageStatus): string {
  const pct = u.budgetBytes > 0 ? ` ${Math.round((u.usedBytes / u.budgetBytes) * 100)}%` : "";
  return `${formatBytes(u.usedBytes)} / ${formatBytes(u.budgetBytes)}${pct}${u.exhausted ? " exhausted" : ""}`;
}

function uplinkRows(uplinks: readonly UplinkStatus[], now: number): string[] {
  return columns([
    ["", "NAME", "IFACE", "STATE", "SINCE", "SCORE", "RTT", "LOSS", "USAGE / BUDGET", "REASON"],
    ...uplinks.map((u) => [
      u.active ? "*" : "",
      visible(u.name),
      visible(u.iface),
      u.usable || u.state === "down" ? u.state : `${u.state} (unusable)`,
      formatAge(now - Date.parse(u.since)),
      u.score === undefined ? "-" : String(u.score),
      u.rttMs === undefined ? "-" : `${number(u.rttMs)} ms`,
      u.lossPct === undefined ? "-" : `${number(u.lossPct)}%`,
      u.usage === undefined ? "-" : usageText(u.usage),
      visible(u.reason),
    ]),
  ]);
}

function conditionRows(conditions: readonly Condition[], now: number): string[] {
  return columns([
    ["TYPE", "STATUS", "REASON", "SINCE", "MESSAGE"],
    ...conditions.map((c) => [
      c.type,
      c.status,
      visible(c.reason),
      formatAge(now - Date.parse(c.lastTransitionTime)),
      visible(c.message) || "-",
    ]),
  ]);
}

function passNote(p: PassRecord): string {
  const parts = [p.triggers.map(visible).join(", ") || "-"];
  if (p.switched !== undefined) {
    const s = p.switched;
    parts.push(
      `switched ${s.from.map(visible).join("+") || "nothing"} → ${s.to.map(visible).join("+") || "nothing"} (${s.cause}: ${visible(s.reason)})`,
    );
  }
  if (p.error !== undefined) parts.push(`error: ${visible(p.error)}`);
  return parts.join("; ");
}

function passRows(passes: readonly PassRecord[], now: number): string[] {
  return columns([
    ["STARTED", "PATH", "TOOK", "OUTCOME", "OPS", "TRIGGERS"],
    ...passes.map((p) => [
      `${formatAge(now - Date.parse(p.startedAt))} ago`,
      p.path,
      `${number(p.durationMs)} ms`,
      p.outcome,
      String(p.ops),
      passNote(p),
    ]),
  ]);
}

/** The human rendering of a snapshot, with ages counted to `now`. */
/** "dnsmasq on wlan0: pid 812, 2 clients (100.64.50.135 phone, 100.64.50.140)", then its last exit. */
function serviceRows(services: readonly ServiceStatus[], now: number): string[] {
  return services.flatMap((x) => {
    const clients =
      x.clients === undefined
        ? ""
        : `, ${x.clients.length} client${x.clients.length === 1 ? "" : "s"}` +
          (x.clients.length === 0
            ? ""
            : ` (${x.clients.map((c) => (c.hostname === undefined ? c.address : `${c.address} ${visible(c.hostname)}`)).join(", ")})`);
    const head = `  ${x.service} on ${x.iface}: ${x.pid === undefined ? "not running" : `pid ${x.pid}`}${clients}`;
    const exits =
      x.exits === 0
        ? []
        : [
            `    exited ${x.exits} time(s)${x.lastExit === undefined ? "" : `, last ${formatAge(now - Date.parse(x.lastExit.at))} ago: ${visible(x.lastExit.reason)}`}`,
          ];
    return [head, ...exits];
  });
}

/** "up since 3m ago: no uplink usable for 30 s", what serves, and the passphrase's age. */
function hotspotRows(h: HotspotStatus, now: number): string[] {
  const age = (iso: string) => formatAge(now - Date.parse(iso));
  const rows = [
    `  ${h.up ? "up" : "down"} for ${age(h.since)} (${h.activate}): ${visible(h.why)}`,
    `  ${visible(h.iface)} ssid ${JSON.stringify(visible(h.ssid))} ${h.security}: ` +
      (h.serving ? "serving" : h.state === undefined ? "not running" : `hostapd ${visible(h.state)}`) +
      `, ${h.clients} client${h.clients === 1 ? "" : "s"}`,
  ];
  const p = h.passphrase;
  if (p !== undefined)
    rows.push(
      `  passphrase ${p.source === "generated" ? "generated by backhaul" : "from its file"}` +
        `${p.fingerprint === undefined ? " (not readable)" : ` ${p.fingerprint}`}` +
        `${p.ageSeconds === undefined ? "" : `, set ${formatAge(p.ageSeconds * 1000)} ago`}` +
        `${p.rotatesAt === undefined ? "" : `, rotated in ${formatAge(Math.max(0, Date.parse(p.rotatesAt) - now))}`}`,
    );
  return rows;
}

export function renderStatus(s: DaemonStatus, now: Date): string {
  const t = now.getTime();
  const ago = (iso: string) => `${formatAge(t - Date.parse(iso))} ago`;
  const label = (name: string, text: string) => `${name.padEnd(10)}${text}`;
  const where = s.netns === null ? "the host" : `namespace ${visible(s.netns)}`;
  const out = [
    `backhaul daemon pid ${s.pid}, managing ${where}, up ${formatAge(t - Date.parse(s.startedAt))}`,
  ];
  const digest = visible(s.policy.digest.slice(0, 19));
  out.push(label("policy", `${visible(s.policy.path)} (${digest}, loaded ${ago(s.policy.loadedAt)})`));
  if (s.policy.rejected !== undefined) {
    out.push(label("", `an edit was refused ${ago(s.policy.rejected.at)}; the policy above stays in force:`));
    for (const e of s.policy.rejected.errors) out.push(label("", `  ${visible(e)}`));
  }
  const active = s.active.uplinks.length > 0 ? s.active.uplinks.map(visible).join(", ") : "none";
  out.push(label("active", `${active} (${visible(s.active.reason)})`));
  const causes = Object.entries(s.switches.byCause).map(([c, n]) => `${c} ${n}`);
  out.push(label("switches", `${s.switches.total}${causes.length > 0 ? ` (${causes.join(", ")})` : ""}`));
  const success = s.lastSuccessfulPassAt !== undefined ? ago(s.lastSuccessfulPassAt) : "never";
  out.push(label("passes", `last success ${success}`));
  out.push("", "UPLINKS (* active)", ...uplinkRows(s.uplinks, t));
  out.push("", "CONDITIONS", ...conditionRows(s.conditions, t));
  if (s.lastPlan !== undefined) {
    const n = s.lastPlan.ops.length;
    out.push("", `LAST PLAN  ${ago(s.lastPlan.at)}, ${n} ${n === 1 ? "op" : "ops"}`);
    for (const op of s.lastPlan.ops) out.push(`  ${visible(op)}`);
  }
  if (s.lastError !== undefined) {
    out.push("", `LAST ERROR  ${ago(s.lastError.at)}`, `  ${visible(s.lastError.message)}`);
  }
  if (s.hotspot !== undefined) out.push("", "HOTSPOT", ...hotspotRows(s.hotspot, t));
  if (s.services !== undefined && s.services.length > 0)
    out.push("", "SERVICES", ...serviceRows(s.services, t));
  out.push("", `PASSES (last ${s.passes.length}, newest last)`);
  out.push(...(s.passes.length > 0 ? passRows(s.passes, t) : ["  none yet"]));
  return `${out.join("\n")}\n`;
}
