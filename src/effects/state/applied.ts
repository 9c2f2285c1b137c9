// What the last successful apply left in the kernel (the owned part): the baseline against which
// `plan` shows objects changed behind backhaul's back.
import { join } from "node:path";
import { stateFromFile } from "../../kinds/registry.js";
import type { KernelState } from "../../kinds/types.js";
import { readDurable, writeDurable } from "./durable-file.js";

const KIND = "last-applied";
const VERSION = 1;

export function appliedPath(stateDir: string, netns: string | undefined): string {
  return join(stateDir, "applied", `${netns ?? "host"}.json`);
}

const isState = (d: unknown): d is KernelState => stateFromFile(d) !== undefined;

export function writeApplied(path: string, owned: KernelState): void {
  writeDurable(path, KIND, VERSION, owned);
}

/** The last applied owned state, or undefined. A damaged record is moved aside and reported (throws). */
export function readApplied(path: string): KernelState | undefined {
  const s = readDurable(path, KIND, VERSION, isState);
  return s === undefined ? undefined : stateFromFile(s);
}
