// `backhaul show`: the observed kernel state, as tables for people or as a versioned JSON document.
import type { Command } from "commander";
import { listNamespaces } from "../../lab/netns.js";
import { currentNetns, validNetnsName } from "../../effects/netns.js";
import { observe } from "../../effects/observe.js";
import { DEFAULT_STATE_DIR } from "../../effects/services.js";
import { renderShow, selectForShow, showDocument } from "../show-view.js";

export interface ShowOptions {
  readonly json?: boolean;
  readonly netns?: string;
  readonly all?: boolean;
  readonly stateDir?: string;
}

/** The text `show` prints; throws with a clear message on bad input. */
export async function showText(opts: ShowOptions): Promise<string> {
  if (opts.netns !== undefined) {
    if (!validNetnsName(opts.netns)) {
      throw new Error(`--netns ${JSON.stringify(opts.netns)}: not a network namespace name`);
    }
    if (!(await listNamespaces()).includes(opts.netns)) {
      throw new Error(`--netns ${opts.netns}: no such network namespace (see ip netns list)`);
    }
  }
  const stateDir = opts.stateDir ?? DEFAULT_STATE_DIR;
  const state = await observe({ ...(opts.netns !== undefined ? { netns: opts.netns } : {}), stateDir });
  const all = opts.all === true;
  const shown = selectForShow(state, all);
  // After `--netns` re-ran this verb inside the namespace, observation is local; the name is still shown.
  const netns = opts.netns ?? currentNetns();
  const view = { ...(netns !== undefined ? { netns } : {}), all };
  return opts.json === true
    ? `${JSON.stringify(showDocument(shown, { ...view, stateDir }), null, 2)}\n`
    : renderShow(shown, view);
}

export function registerShow(program: Command): void {
  program
    .command("show")
    .description("Show the observed kernel state: links, rules, routes, traffic control, hotspot")
    .option("--json", "print a versioned JSON document instead of tables")
    .option("--netns <name>", "observe this network namespace")
    .option("--all", "show everything, not only what backhaul manages or could manage")
    .option("--state-dir <dir>", "where backhaul keeps its service files", DEFAULT_STATE_DIR)
    .action(async (opts: ShowOptions) => {
      process.stdout.write(await showText(opts));
    });
}
