// The file udhcpc runs on each lease event (its `-s`): a few lines of JavaScript for this very node
// binary that load backhaul's lease hook (lease-hook.ts) the way this process was loaded (the same
// `--import` loaders), so the installed package and a source checkout behave alike.
import { chmodSync, mkdirSync, readFileSync } from "node:fs";
import { dirname, isAbsolute } from "node:path";
import { pathToFileURL } from "node:url";
import { writeTextAtomic } from "../state/durable-file.js";
import { LEASE_HOOK_URL } from "./lease-hook.js";

/** The module URLs of this process's `--import` loaders. */
function loaders(): string[] {
  const out: string[] = [];
  const argv = process.execArgv;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const spec = a === "--import" ? argv[++i] : a.startsWith("--import=") ? a.slice(9) : undefined;
    if (spec === undefined) continue;
    if (spec.startsWith("file:")) out.push(spec);
    else if (isAbsolute(spec)) out.push(pathToFileURL(spec).href);
    else out.push(import.meta.resolve(spec));
  }
  return out;
}

export function dhcpHookText(): string {
  return [
    `#!${process.execPath}`,
    "// Written by backhaul: udhcpc runs this on each lease event. Rewritten whenever a client starts.",
    ...loaders().map((u) => `await import(${JSON.stringify(u)});`),
    `const { runLeaseHook } = await import(${JSON.stringify(LEASE_HOOK_URL)});`,
    'process.exitCode = await runLeaseHook(process.argv[2], process.env, new URL(".", import.meta.url));',
    "",
  ].join("\n");
}

/** Write the hook (executable by its owner only) unless it already holds this text. */
export function writeDhcpHook(path: string): void {
  const text = dhcpHookText();
  try {
    if (readFileSync(path, "utf8") === text) return;
  } catch {
    // Not there yet.
  }
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  writeTextAtomic(path, text, 0o700);
  chmodSync(path, 0o700);
}
