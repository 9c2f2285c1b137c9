// Network namespaces the lab creates. Every name carries LAB_PREFIX so a stale lab left by a crashed
// run can be found and removed, and nothing outside the lab is ever touched.
import { randomBytes } from "node:crypto";
import { run } from "../util/exec.js";

export const LAB_PREFIX = "bhl";

/** A short unique lab id: namespace names stay readable and well under the kernel's limits. */
export function newLabId(): string {
  return `${LAB_PREFIX}${randomBytes(3).toString("hex")}`;
}

export async function listNamespaces(): Promise<string[]> {
  const r = await run(["ip", "-j", "netns", "list"], { allowFailure: true });
  if (r.exitCode !== 0 || r.stdout.trim() === "") return [];
  const parsed = JSON.parse(r.stdout) as Array<{ name?: unknown }>;
  return parsed.flatMap((e) => (typeof e.name === "string" ? [e.name] : []));
}

export async function addNamespace(name: string): Promise<void> {
  if (!name.startsWith(LAB_PREFIX)) throw new Error(`refusing to create namespace ${name}: not a lab name`);
  await run(["ip", "netns", "add", name]);
  await run(["ip", "link", "set", "lo", "up"], { netns: name });
}

export async function deleteNamespace(name: string): Promise<void> {
  if (!name.startsWith(LAB_PREFIX)) throw new Error(`refusing to delete namespace ${name}: not a lab name`);
  await run(["ip", "netns", "del", name], { allowFailure: true });
}
