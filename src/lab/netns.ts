// Network namespaces the lab creates. Every name carries LAB_PREFIX, and an owner record (pid and
// process start time) is written before the namespace exists, so a stale namespace left by a crashed
// run is found and removed while namespaces of labs that are still running are left alone.
// A lab brought up for people (`backhaul lab up`) outlives the process that made it: its namespaces
// carry a persistent owner record instead, which names the lab; they stay until `backhaul lab down`
// removes the lab record (LABS_DIR/<lab>.json), and only then become stale.
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { run } from "../effects/exec.js";
import { isAlive, processStartTime } from "../effects/proc.js";

export const LAB_PREFIX = "bhl";
export const OWNER_DIR = "/run/backhaul-lab";
/** Records of labs (one JSON file per lab) and their state directories. */
export const LABS_DIR = join(OWNER_DIR, "labs");

/** Who keeps a namespace alive: a process (pid), or a persistent lab (its id). */
export type Owner = number | { readonly persistentLab: string };

type OwnerRecord = { readonly pid: number; readonly startTime: number } | { readonly persistentLab: string };

/** A short unique lab id: namespace names stay readable and well under the kernel's limits. */
export function newLabId(): string {
  return `${LAB_PREFIX}${randomBytes(3).toString("hex")}`;
}

function assertLabName(name: string): void {
  if (!/^bhl[a-z0-9-]{1,40}$/.test(name))
    throw new Error(`refusing namespace ${JSON.stringify(name)}: not a lab name`);
}

export async function listNamespaces(): Promise<string[]> {
  const r = await run(["ip", "-j", "netns", "list"], { allowFailure: true });
  if (r.exitCode !== 0 || r.stdout.trim() === "") return [];
  const parsed = JSON.parse(r.stdout) as Array<{ name?: unknown }>;
  return parsed.flatMap((e) => (typeof e.name === "string" ? [e.name] : []));
}

function ownerRecord(owner: Owner): OwnerRecord {
  if (typeof owner !== "number") return { persistentLab: owner.persistentLab };
  const startTime = processStartTime(owner);
  if (startTime === undefined) throw new Error(`owner process ${owner} does not exist`);
  return { pid: owner, startTime };
}

/** Create a lab namespace owned by `owner` (default: this process), with loopback up. */
export async function addNamespace(name: string, owner: Owner = process.pid): Promise<void> {
  assertLabName(name);
  const record = ownerRecord(owner);
  mkdirSync(OWNER_DIR, { recursive: true });
  writeFileSync(join(OWNER_DIR, `${name}.json`), JSON.stringify(record));
  await run(["ip", "netns", "add", name]);
  await run(["ip", "link", "set", "lo", "up"], { netns: name });
}

/**
 * Write the owner records of several namespaces; the caller creates the namespaces themselves (in
 * one `ip -batch` with their links). Records come first, so a crash in between leaves nothing unowned.
 */
export function recordOwner(names: readonly string[], owner: Owner = process.pid): void {
  names.forEach(assertLabName);
  const record = JSON.stringify(ownerRecord(owner));
  mkdirSync(OWNER_DIR, { recursive: true });
  for (const n of names) writeFileSync(join(OWNER_DIR, `${n}.json`), record);
}

/** Kill every process still running inside the namespace, then delete it and its owner record. */
export async function deleteNamespace(name: string): Promise<void> {
  assertLabName(name);
  const pids = await run(["ip", "netns", "pids", name], { allowFailure: true });
  for (const p of pids.stdout.split(/\s+/).filter(Boolean)) {
    try {
      process.kill(Number(p), "SIGKILL");
    } catch {
      // already gone
    }
  }
  await run(["ip", "netns", "del", name], { allowFailure: true });
  rmSync(join(OWNER_DIR, `${name}.json`), { force: true });
}

/** Whether the owner of a namespace is still there: a live process, or a lab not yet taken down. */
export function ownerAlive(name: string): boolean {
  const o = ownerOf(name);
  if (o === undefined) return false;
  if ("persistentLab" in o) return existsSync(join(LABS_DIR, `${o.persistentLab}.json`));
  return isAlive(o.pid, o.startTime);
}

function ownerOf(name: string): OwnerRecord | undefined {
  try {
    return JSON.parse(readFileSync(join(OWNER_DIR, `${name}.json`), "utf8")) as OwnerRecord;
  } catch {
    return undefined;
  }
}

/**
 * Remove lab namespaces whose owner is gone (process dead, persistent lab taken down) or that have no
 * owner record. Returns their names.
 */
export async function removeStaleNamespaces(): Promise<string[]> {
  const stale = (await listNamespaces()).filter((n) => n.startsWith(LAB_PREFIX) && !ownerAlive(n));
  await Promise.all(stale.map(deleteNamespace));
  return stale;
}
