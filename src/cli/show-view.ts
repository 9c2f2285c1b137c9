// What `backhaul show` prints: a selection of the observed state (pure) and its human rendering (pure).
// Each kind's driver decides which of its objects are worth showing and renders its own sections.
import type { ShowContext } from "../kinds/driver.js";
import { showableLinks } from "../kinds/ip/link.js";
import { driver, KIND_NAMES } from "../kinds/registry.js";
import type { KernelState } from "../kinds/types.js";

export const SHOW_FORMAT_VERSION = 1;

/** Kinds in the order their sections appear. */
const SHOW_ORDER = [...KIND_NAMES].sort((a, b) => driver(a).show.place - driver(b).show.place);

/**
 * The default view: what backhaul manages or could manage. Links that could be an uplink or a hotspot
 * (class other than "other") with their addresses (IPv6 link-local left out), every rule but the
 * kernel's three defaults, routes of every table but local, configured qdisc trees, classes and
 * filters of those links, our nft table, forwarding and the shown links' sysctls, our services.
 * `all` keeps everything.
 */
export function selectForShow(s: KernelState, all: boolean): KernelState {
  if (all) return s;
  const ctx: ShowContext<KernelState> = { state: s, links: showableLinks(s.link) };
  const out: Record<string, unknown> = {};
  for (const k of KIND_NAMES) {
    const keep = driver(k).show.keep;
    out[k] = s[k].filter((o) => keep(o, ctx));
  }
  return out as unknown as KernelState;
}

/**
 * The --json document (schemas/show.schema.json). With `all` it is the node's whole observed state,
 * which `plan --against` reads back (core/recorded-state.ts).
 */
export function showDocument(
  s: KernelState,
  opts: { netns?: string; all: boolean; stateDir?: string },
): object {
  return {
    format_version: SHOW_FORMAT_VERSION,
    netns: opts.netns ?? null,
    all: opts.all,
    ...(opts.stateDir === undefined ? {} : { state_dir: opts.stateDir }),
    state: s,
  };
}

/** The human form: one section per kind that has something to show (sections of one title merge). */
export function renderShow(s: KernelState, opts: { netns?: string; all: boolean }): string {
  const ctx: ShowContext<KernelState> = {
    state: s,
    links: new Set(s.link.map((l) => l.name)),
    ...(opts.netns !== undefined ? { netns: opts.netns } : {}),
  };
  const out: string[] = [];
  let lastTitle: string | undefined;
  for (const k of SHOW_ORDER) {
    for (const { title, lines } of driver(k).show.sections(s[k], ctx)) {
      if (lines.length === 0) continue;
      if (title !== lastTitle) {
        if (out.length > 0) out.push("");
        out.push(title);
      }
      out.push(...lines);
      lastTitle = title;
    }
  }
  return `${out.join("\n")}\n`;
}
