// Watching the policy on disk (chokidar): a file, or a directory of *.yaml/*.yml merged in name order.
// The parent directory is watched rather than the file, so editors and `git checkout` that replace the
// file by a rename are seen as well. A directory is watched where it resolves to, and its own entry in
// its parent too: a git sync tool that swaps a symlink to a new copy (git-sync's
// `/etc/backhaul/policy -> rev-abc`), or renames a new directory over the old, changes nothing inside
// the directory watched so far, so on such a swap the watch moves to where the path leads now. Bursts
// of events (write, chmod, rename) settle into one reload.
import { realpathSync, statSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { watch, type FSWatcher } from "chokidar";
import type { EffectivePolicy } from "../policy/types.js";
import { loadOrErrors } from "./daemon.js";

export interface PolicyWatch {
  close(): Promise<void>;
}

const SETTLE_MS = 50;

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

function realpathOf(path: string): string | undefined {
  try {
    return realpathSync(path);
  } catch {
    return undefined;
  }
}

/** Watch the entries of `root` that `relevant` selects (and nothing else of it), once ready. */
async function watchEntries(
  root: string,
  relevant: (p: string) => boolean,
  onEvent: () => void,
  followSymlinks: boolean,
): Promise<FSWatcher> {
  const watcher: FSWatcher = watch(root, {
    ignoreInitial: true,
    depth: 0,
    followSymlinks,
    // Only the policy's own entries: a busy /etc must not cost anything.
    ignored: (p: string) => resolve(p) !== root && !relevant(p),
  });
  watcher.on("all", (_event, p) => {
    if (relevant(p)) onEvent();
  });
  await new Promise<void>((ok, fail) => {
    watcher.once("ready", ok);
    watcher.once("error", fail);
  });
  return watcher;
}

/** Call `onChange` (once per burst) whenever the policy at `path` may have changed. */
export async function watchPolicy(path: string, onChange: () => void): Promise<PolicyWatch> {
  const target = resolve(path);
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  const changed = (): void => {
    clearTimeout(timer);
    if (!closed) timer = setTimeout(onChange, SETTLE_MS);
  };
  const entry = (p: string): boolean => resolve(p) === target;
  if (!isDirectory(target)) {
    const file = await watchEntries(dirname(target), entry, changed, true);
    return {
      close: async () => {
        closed = true;
        clearTimeout(timer);
        await file.close();
      },
    };
  }
  const yamlIn = (home: string) => (p: string) => dirname(resolve(p)) === home && /\.ya?ml$/.test(p);
  let home = realpathOf(target) ?? target;
  let contents = await watchEntries(home, yamlIn(home), changed, true);
  // Moves are serialized: two swaps in a row must not leave two watchers on the directory.
  let moving = Promise.resolve();
  const swapped = (): void => {
    moving = moving.then(async () => {
      const now = realpathOf(target);
      if (!closed && now !== undefined && now !== home && isDirectory(now)) {
        const old = contents;
        contents = await watchEntries(now, yamlIn(now), changed, true);
        home = now;
        await old.close();
      }
      // After the new watch is ready: a change made while it started is in the reload this asks for.
      changed();
    });
  };
  const link = await watchEntries(dirname(target), entry, swapped, false);
  return {
    close: async () => {
      closed = true;
      clearTimeout(timer);
      await link.close();
      await moving;
      await contents.close();
    },
  };
}

/** What becomes of each reload: a policy that loads, or the errors of one that does not. */
export interface PolicyFollower {
  accept(policy: EffectivePolicy): void;
  refuse(errors: readonly string[]): void;
}

/**
 * Load the policy at `path` again whenever it may have changed, and hand the result on. Loads run one
 * at a time, and a change during a load asks for one more, so the last word is always the newest
 * revision's (a slow load of an older one never lands after it).
 */
export async function followPolicy(path: string, to: PolicyFollower): Promise<PolicyWatch> {
  let running: Promise<void> | undefined;
  let again = false;
  const reload = (): void => {
    if (running !== undefined) {
      again = true;
      return;
    }
    running = (async () => {
      do {
        again = false;
        const r = await loadOrErrors(path);
        if (r.ok) to.accept(r.policy);
        else to.refuse(r.errors);
      } while (again);
    })().finally(() => {
      running = undefined;
    });
  };
  const watch = await watchPolicy(path, reload);
  return {
    close: async () => {
      await watch.close();
      await running;
    },
  };
}
