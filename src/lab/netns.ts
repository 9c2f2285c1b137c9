// Network namespaces the lab creates. Every name carries LAB_PREFIX, and an owner record (pid and
// process start time) is written before the namespace exists, so a stale namespace left by a crashed
// run is found and removed while namespaces of labs that are still running are left alone.
import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { run } from "../util/exec.js";
import { isAlive, processStartTime } from "../util/proc.js";

export const LAB_PREFIX = "bhl";
export const OWNER_DIR = "/run/backhaul-lab";

interface OwnerRecord {
  readonly pid: number;
  readonly startTime: number;
}

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

/** Create a lab namespace owned by `owner` (default: this process), with loopback up. */
export async function addNamespace(name: string, owner: number = process.pid): Promise<void> {
  assertLabName(name);
  const startTime = processStartTime(owner);
  if (startTime === undefined) throw new Error(`owner process ${owner} does not exist`);
  mkdirSync(OWNER_DIR, { recursive: true });
  const record: OwnerRecord = { pid: owner, startTime };
  writeFileSync(join(OWNER_DIR, `${name}.json`), JSON.stringify(record));
  await run(["ip", "netns", "add", name]);
  await run(["ip", "link", "set", "lo", "up"], { netns: name });
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

function ownerOf(name: string): OwnerRecord | undefined {
  try {
    return JSON.parse(readFileSync(join(OWNER_DIR, `${name}.json`), "utf8")) as OwnerRecord;
  } catch {
    return undefined;
  }
}

/** Remove lab namespaces whose owner process is gone (or that have no owner record). Returns their names. */
export async function removeStaleNamespaces(): Promise<string[]> {
  const stale = (await listNamespaces()).filter((n) => {
    if (!n.startsWith(LAB_PREFIX)) return false;
    const o = ownerOf(n);
    return o === undefined || !isAlive(o.pid, o.startTime);
  });
  for (const n of stale) await deleteNamespace(n);
  return stale;
}
