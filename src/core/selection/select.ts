// Which uplinks carry general traffic, and why. Pure: same input, same decision, same words.
import type { KernelState } from "../../kinds/types.js";
import { attach, indexObserved, linkProblem, type ObservedIndex } from "./gateway.js";
import { scoreUplink } from "./score.js";
import type {
  ActiveUplink,
  Attachment,
  Health,
  PreviousSelection,
  Selection,
  SelectionParams,
  Tier,
  UplinkSpec,
  UplinkVerdict,
  Usage,
} from "./types.js";

export interface SelectionInput {
  /** In policy order: ties in score go to the earlier uplink. */
  readonly uplinks: readonly UplinkSpec[];
  readonly observed: KernelState | ObservedIndex;
  /** By uplink name; a missing entry means "no probe result yet". */
  readonly health: Readonly<Record<string, Health>>;
  /** By uplink name, for metered uplinks. */
  readonly usage: Readonly<Record<string, Usage>>;
  readonly previous?: PreviousSelection;
  readonly params: SelectionParams;
  /** Families the scheme routes; IPv4 always, IPv6 where the policy enables it. */
  readonly families: readonly (4 | 6)[];
  /**
   * Keep the previous active set while it stays usable, for this reason (the daemon's switch limit):
   * only switches away from an uplink that can no longer carry traffic go ahead.
   */
  readonly holdActive?: string;
}

/** "12:03:41" (UTC) */
export const clock = (epochMs: number): string => new Date(epochMs).toISOString().slice(11, 19);

const GIB = 1024 ** 3;
const MIB = 1024 ** 2;
function bytes(n: number): string {
  return n >= GIB ? `${(n / GIB).toFixed(1)} GiB` : `${(n / MIB).toFixed(1)} MiB`;
}

function overBudget(u: Usage | undefined): string | undefined {
  if (u === undefined) return undefined;
  const spent = u.exhausted || (u.budgetBytes !== undefined && u.usedBytes >= u.budgetBytes);
  if (!spent) return undefined;
  return u.budgetBytes === undefined
    ? "over its data budget"
    : `over its data budget (${bytes(u.usedBytes)} of ${bytes(u.budgetBytes)})`;
}

function healthWords(h: Health): string {
  return `${h.state} since ${clock(h.since)}${h.reason === undefined ? "" : `, ${h.reason}`}`;
}

function verdictFor(
  spec: UplinkSpec,
  ix: ObservedIndex,
  input: SelectionInput,
  wasUsable: boolean,
): UplinkVerdict {
  const base = { name: spec.name, iface: spec.iface };
  const health = input.health[spec.name];
  if (spec.use === "never")
    return {
      ...base,
      attached: false,
      usable: false,
      attachments: [],
      reason: "not used (policy: use never)",
    };

  const problem = linkProblem(spec.iface, ix);
  if (problem !== undefined) {
    const reason = health?.state === "down" ? `down since ${clock(health.since)}, ${problem}` : problem;
    return { ...base, attached: false, usable: false, attachments: [], reason };
  }
  const attachments: Attachment[] = [];
  const failures: string[] = [];
  for (const family of input.families) {
    const r = attach(spec, family, ix);
    if (r.ok) attachments.push(r.attachment);
    else failures.push(r.reason);
  }
  if (attachments.length === 0)
    return { ...base, attached: false, usable: false, attachments, reason: failures.join("; ") };

  const attached = { ...base, attached: true, attachments };
  // General traffic is chosen on IPv4, which every node routes; IPv6 follows that choice. An uplink with
  // only an IPv6 path keeps its table and source rule (probes, replies) but carries no general traffic.
  if (!attachments.some((a) => a.family === 4))
    return { ...attached, usable: false, reason: `no IPv4 path (${failures[0] ?? "IPv4 not routed"})` };
  if (health === undefined) return { ...attached, usable: false, reason: "no probe result yet" };
  if (health.state === "down") return { ...attached, usable: false, reason: healthWords(health) };
  if (health.state === "probing")
    return {
      ...attached,
      usable: false,
      reason: `probing since ${clock(health.since)}, not yet verified${health.reason ? ` (${health.reason})` : ""}`,
    };

  const p = input.params;
  const score = scoreUplink(spec, health, p);
  const threshold = wasUsable ? p.failThreshold : p.recoverThreshold;
  if (score.total < threshold) {
    const which = wasUsable ? "fail" : "recover";
    const state = health.state === "degraded" ? `${healthWords(health)}; ` : "";
    return {
      ...attached,
      usable: false,
      score,
      reason: `${state}score ${score.total} below the ${which} threshold ${threshold}`,
    };
  }
  const budget = spec.metered ? overBudget(input.usage[spec.name]) : undefined;
  if (budget !== undefined && spec.onExhausted === "never")
    return { ...attached, usable: false, score, reason: `${budget}: not used until its next period` };
  // keep: a spent budget is only reported; otherwise the uplink is kept for emergencies.
  const spent = budget !== undefined && spec.onExhausted !== "keep";
  const tier: Tier = spec.use === "emergency-only" || spent ? "fallback" : "primary";
  const why =
    spec.use === "emergency-only"
      ? "emergency-only"
      : budget === undefined
        ? ""
        : spent
          ? budget
          : `${budget}, kept in use`;
  const state = health.state === "degraded" ? `${healthWords(health)}, ` : "";
  return {
    ...attached,
    usable: true,
    tier,
    score,
    reason: `${state}score ${score.total}${why === "" ? "" : `, ${why}`}`,
  };
}

const scoreOf = (v: UplinkVerdict): number => v.score?.total ?? 0;

/** Multipath weights proportional to score, in the 1..256 range the kernel accepts. */
export function weightsFromScores(scores: readonly number[]): number[] {
  const max = Math.max(...scores);
  return scores.map((s) => (max <= 0 ? 1 : Math.min(256, Math.max(1, Math.round((256 * s) / max)))));
}

export function select(input: SelectionInput): Selection {
  const ix = "links" in input.observed ? input.observed : indexObserved(input.observed);
  const p = input.params;
  if (!input.families.includes(4)) throw new Error("selection: IPv4 must be among the routed families");
  if (p.recoverThreshold < p.failThreshold)
    throw new Error(
      `selection: the recover threshold (${p.recoverThreshold}) must not be below the fail threshold (${p.failThreshold})`,
    );
  const names = new Set<string>();
  for (const u of input.uplinks) {
    if (names.has(u.name)) throw new Error(`selection: uplink name "${u.name}" is used twice`);
    names.add(u.name);
  }
  const prevUsable = new Set(input.previous?.usable ?? []);
  const verdicts = input.uplinks.map((u) => verdictFor(u, ix, input, prevUsable.has(u.name)));
  const order = new Map(input.uplinks.map((u, i) => [u.name, i]));
  const byScore = (a: UplinkVerdict, b: UplinkVerdict): number =>
    scoreOf(b) - scoreOf(a) || (order.get(a.name) ?? 0) - (order.get(b.name) ?? 0);

  const usable = verdicts.filter((v) => v.usable);
  const primary = usable.filter((v) => v.tier === "primary").sort(byScore);
  const fallback = usable.filter((v) => v.tier === "fallback").sort(byScore);
  const candidates = primary.length > 0 ? primary : fallback;
  const prevActive = input.previous?.active ?? [];
  const verdictOf = (name: string): UplinkVerdict | undefined => verdicts.find((v) => v.name === name);
  const unusableWords = verdicts
    .filter((v) => !v.usable && v.reason !== "not used (policy: use never)")
    .map((v) => `${v.name} ${v.reason}`);

  if (candidates.length === 0) {
    const choice =
      p.whenNoneUsable === "keep-last" ? "keeping the last default route" : "withdrawing the default route";
    const why = unusableWords.length > 0 ? unusableWords.join("; ") : "no uplink configured";
    return {
      strategy: p.strategy,
      active: [],
      ranked: [],
      verdicts,
      noneUsable: p.whenNoneUsable,
      switched: prevActive.length > 0,
      reason: `no usable uplink (${why}): ${choice}`,
      why: `no usable uplink (${why})`,
    };
  }

  let active: ActiveUplink[];
  let ranked: UplinkVerdict[];
  let reason: string;
  let why: string;
  const fallbackNote =
    candidates === fallback
      ? ` as fallback (${candidates.map((c) => `${c.name}: ${c.reason}`).join("; ")})`
      : "";

  if (p.strategy === "failover") {
    const best = candidates[0]!;
    const prevName = prevActive[0]?.name;
    const prev = prevName === undefined ? undefined : candidates.find((c) => c.name === prevName);
    let chosen = best;
    if (prev !== undefined && prev !== best) {
      if (input.holdActive !== undefined) {
        chosen = prev;
        why = input.holdActive;
        reason = `${prev.name} kept: ${why}`;
      } else if (scoreOf(best) - scoreOf(prev) < p.switchMargin) {
        chosen = prev;
        why =
          `${best.name} scores ${scoreOf(best)}, not better than ${prev.name}'s ` +
          `${scoreOf(prev)} by the switch margin ${p.switchMargin}`;
        reason = `${prev.name} kept: ${why}`;
      } else {
        why =
          `${best.name} scores ${scoreOf(best)}, beats ${prev.name}'s ${scoreOf(prev)} ` +
          `by at least the switch margin ${p.switchMargin}`;
        reason = `${best.name} chosen: ${why}`;
      }
    } else if (prev !== undefined) {
      why = `score ${scoreOf(best)}`;
      reason = `${best.name} stays active (${why})`;
    } else if (prevName !== undefined) {
      const old = verdictOf(prevName);
      why =
        old === undefined
          ? `${prevName} is no longer in the policy`
          : old.usable
            ? `${prevName} is a fallback (${old.reason}) and a primary uplink is usable`
            : `${prevName} ${old.reason}`;
      reason = `${best.name} chosen${fallbackNote}: ${why}`;
    } else {
      const others = unusableWords.length > 0 ? `; ${unusableWords.join("; ")}` : "";
      why = `best score ${scoreOf(best)}${others}`;
      reason = `${best.name} chosen${fallbackNote}: ${why}`;
    }
    active = [{ name: chosen.name, weight: 1 }];
    ranked = [chosen, ...candidates.filter((c) => c !== chosen)];
  } else {
    ranked = candidates;
    const prevByName = new Map(prevActive.map((a) => [a.name, a]));
    const sameSet =
      prevActive.length === candidates.length && candidates.every((c) => prevByName.has(c.name));
    const held =
      input.holdActive !== undefined &&
      prevActive.length > 0 &&
      prevActive.every((a) => candidates.some((c) => c.name === a.name));
    const carrying = held ? prevActive.map((a) => candidates.find((c) => c.name === a.name)!) : candidates;
    ranked = [...carrying, ...candidates.filter((c) => !carrying.includes(c))];
    const steady =
      held ||
      (sameSet &&
        candidates.every((c) => Math.abs(scoreOf(c) - prevByName.get(c.name)!.score) < p.switchMargin));
    const weights = steady
      ? carrying.map((c) => prevByName.get(c.name)!.weight)
      : weightsFromScores(carrying.map(scoreOf));
    active = carrying.map((c, i) => ({ name: c.name, weight: weights[i]! }));
    const list = active.map((a) => `${a.name} (weight ${a.weight})`).join(", ");
    const others = unusableWords.length > 0 ? `; ${unusableWords.join("; ")}` : "";
    const kept = held
      ? `set and weights kept: ${input.holdActive}`
      : "weights kept: no score moved by the switch margin";
    why = `${steady ? kept : "weights from scores"}${others}`;
    reason = `balancing${fallbackNote} over ${list}: ${why}`;
  }

  const prevNames = prevActive.map((a) => a.name).sort();
  const nowNames = active.map((a) => a.name).sort();
  return {
    strategy: p.strategy,
    active,
    ranked: ranked.map((v) => v.name),
    verdicts,
    switched: prevNames.join(",") !== nowNames.join(","),
    reason,
    why,
  };
}

/** What the next pass needs for hysteresis. */
export function toPrevious(s: Selection): PreviousSelection {
  const score = (name: string): number => s.verdicts.find((v) => v.name === name)?.score?.total ?? 0;
  return {
    active: s.active.map((a) => ({ name: a.name, weight: a.weight, score: score(a.name) })),
    usable: s.verdicts.filter((v) => v.usable).map((v) => v.name),
  };
}
