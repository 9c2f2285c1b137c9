// Lab records: one JSON file per lab under LABS_DIR, with a state directory beside it (dnsmasq
// config, leases, logs). The record says what to tear down, also from another process.
import { mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { LABS_DIR } from "./netns.js";
import type { LabNames } from "./build.js";
import type { Topology } from "./topology.js";

/** A long-lived process the lab started: pid plus start time, so a reused pid is never killed. */
export interface TrackedProcess {
  readonly pid: number;
  readonly startTime: number;
  readonly netns: string;
  /** What it is, e.g. "targets" or "dhcp:usb0". */
  readonly role: string;
}

export interface LabRecord {
  readonly id: string;
  readonly topology: Topology;
  /** The topology file it came from, when there was one. */
  readonly source?: string;
  /** A persistent lab outlives its creator and stays until `backhaul lab down`. */
  readonly persistent: boolean;
  /** The process that owns a non-persistent lab. */
  readonly owner: { readonly pid: number; readonly startTime: number };
  readonly names: LabNames;
  /** The ISP's current gateway address per uplink ("a.b.c.d/len"); faults move it. */
  readonly gateways: Readonly<Record<string, string>>;
  /** The address each DHCP uplink's server leases the node (no prefix length); faults change it. */
  readonly leased?: Readonly<Record<string, string>>;
  readonly processes: readonly TrackedProcess[];
  readonly createdAt: string;
}

export function labDir(id: string): string {
  return join(LABS_DIR, id);
}

function recordFile(id: string): string {
  return join(LABS_DIR, `${id}.json`);
}

/** Write the record atomically (temp file, then rename): readers see the old or the new one, whole. */
export function writeLabRecord(r: LabRecord): void {
  mkdirSync(LABS_DIR, { recursive: true });
  const tmp = `${recordFile(r.id)}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(r, null, 2));
  renameSync(tmp, recordFile(r.id));
}

export function readLabRecord(id: string): LabRecord | undefined {
  if (!/^bhl[a-z0-9]+$/.test(id)) return undefined;
  try {
    return JSON.parse(readFileSync(recordFile(id), "utf8")) as LabRecord;
  } catch {
    return undefined;
  }
}

export function listLabRecords(): LabRecord[] {
  let files: string[];
  try {
    files = readdirSync(LABS_DIR);
  } catch {
    return [];
  }
  return files
    .filter((f) => f.endsWith(".json"))
    .flatMap((f) => {
      const r = readLabRecord(f.slice(0, -".json".length));
      return r ? [r] : [];
    })
    .sort((a, b) => a.createdAt.localeCompare(b.createdAt));
}

/** Remove the lab's state directory, then its record (the record goes last: it is the marker). */
export function removeLabRecord(id: string): void {
  rmSync(labDir(id), { recursive: true, force: true });
  rmSync(recordFile(id), { force: true });
}

/**
 * Remove state directories whose record is gone (a persistent lab's record removed by hand, a crash
 * inside a teardown). A live lab's record is written before its directory and removed after it.
 */
export function removeOrphanLabDirs(): void {
  let entries: string[];
  try {
    entries = readdirSync(LABS_DIR);
  } catch {
    return;
  }
  for (const e of entries)
    if (/^bhl[a-z0-9]+$/.test(e) && !entries.includes(`${e}.json`))
      rmSync(labDir(e), { recursive: true, force: true });
}
