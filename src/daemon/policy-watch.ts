// Watching the policy on disk (chokidar): a file, or a directory of *.yaml/*.yml merged in name order.
// The parent directory is watched rather than the file, so editors and `git checkout` that replace the
// file by a rename are seen as well. Bursts of events (write, chmod, rename) settle into one reload.
import { statSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { watch, type FSWatcher } from "chokidar";

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

/** Call `onChange` (once per burst) whenever the policy at `path` may have changed. */
export async function watchPolicy(path: string, onChange: () => void): Promise<PolicyWatch> {
  const target = resolve(path);
  const dir = isDirectory(target);
  const root = dir ? target : dirname(target);
  const relevant = (p: string): boolean =>
    dir ? dirname(resolve(p)) === target && /\.ya?ml$/.test(p) : resolve(p) === target;
  let timer: NodeJS.Timeout | undefined;
  const watcher: FSWatcher = watch(root, {
    ignoreInitial: true,
    depth: 0,
    // Only the policy's own entries: a busy /etc must not cost anything.
    ignored: (p: string) => resolve(p) !== root && !relevant(p),
  });
  watcher.on("all", (_event, p) => {
    if (!relevant(p)) return;
    clearTimeout(timer);
    timer = setTimeout(onChange, SETTLE_MS);
  });
  await new Promise<void>((ok, fail) => {
    watcher.once("ready", ok);
    watcher.once("error", fail);
  });
  return {
    close: async () => {
      clearTimeout(timer);
      await watcher.close();
    },
  };
}
