// Helpers for tests that run against the real kernel, inside lab namespaces. Kernel tests need root
// and the network tools. Locally they skip without them; with CI=true they must fail instead, so a
// CI machine that cannot run them never passes silently.
import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";
import { afterAll, beforeAll } from "vitest";
import { Lab } from "../../src/lab/lab.js";
import { DEMO_TOPOLOGY_FILE, loadTopology, type Topology } from "../../src/lab/topology.js";
import { run } from "../../src/effects/exec.js";

const TOOLS = ["ip", "tc", "nft", "find", "grep"];

/** What a lab needs on top of TOOLS: `requireKernel(LAB_TOOLS)`. */
export const LAB_TOOLS = ["dnsmasq", "sysctl"] as const;

function onPath(tool: string): boolean {
  return (process.env["PATH"] ?? "").split(delimiter).some((d) => {
    try {
      accessSync(join(d, tool), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** Why kernel tests cannot run here, or undefined when they can. */
export function kernelUnavailable(extraTools: readonly string[] = []): string | undefined {
  if (process.getuid?.() !== 0) return "not running as root";
  const missing = [...TOOLS, ...extraTools].filter((t) => !onPath(t));
  return missing.length > 0 ? `missing tools: ${missing.join(", ")}` : undefined;
}

/**
 * True when kernel tests can run; false (skip) locally when they cannot; throws under CI=true, so
 * the test file fails. Use as `describe.skipIf(!requireKernel(LAB_TOOLS))(...)`.
 */
export function requireKernel(extraTools: readonly string[] = []): boolean {
  const why = kernelUnavailable(extraTools);
  if (why === undefined) return true;
  if (process.env["CI"] === "true") throw new Error(`kernel tests cannot run: ${why}`);
  return false;
}

export function demoTopology(): Topology {
  return loadTopology(DEMO_TOPOLOGY_FILE);
}

/**
 * A lab for the enclosing describe block: up in beforeAll, down in afterAll (also when tests fail).
 * Returns a getter for the running lab.
 */
export function useLab(topology: Topology): () => Lab {
  let lab: Lab | undefined;
  beforeAll(async () => {
    lab = await Lab.up(topology);
  });
  afterAll(async () => {
    await lab?.down();
  });
  return () => {
    if (lab === undefined) throw new Error("the lab is not up (useLab's beforeAll did not run or failed)");
    return lab;
  };
}

/** Run `fn` with a lab that is taken down afterwards, whatever happens. */
export async function withLab<T>(topology: Topology, fn: (lab: Lab) => Promise<T>): Promise<T> {
  const lab = await Lab.up(topology);
  try {
    return await fn(lab);
  } finally {
    await lab.down();
  }
}

export interface ConnectTarget {
  readonly host: string;
  readonly port: number;
  /** Bind to this source address first (selects the uplink through its source rule). */
  readonly localAddress?: string;
  readonly timeoutMs?: number;
}

// Runs in a child `node` inside the namespace: connects (or GETs), prints the outcome, exits 0.
const CONNECT_SCRIPT = `
const o = JSON.parse(process.argv[1]);
const done = (s) => { process.stdout.write(s); process.exit(0); };
setTimeout(() => done("timeout"), o.timeoutMs);
if (o.path === undefined) {
  const s = require("node:net").connect({ host: o.host, port: o.port, localAddress: o.localAddress });
  s.on("connect", () => done("connected"));
  s.on("error", (e) => done("error " + e.code));
} else {
  require("node:http")
    .get({ host: o.host, port: o.port, path: o.path, localAddress: o.localAddress, agent: false }, (r) => done(String(r.statusCode)))
    .on("error", (e) => done("error " + e.code));
}`;

async function connectScript(netns: string, o: ConnectTarget & { path?: string }): Promise<string> {
  const args = { timeoutMs: 1000, ...o };
  const r = await run([process.execPath, "-e", CONNECT_SCRIPT, JSON.stringify(args)], { netns });
  return r.stdout.trim();
}

/** Open a TCP connection from inside a namespace: "connected", "timeout" or "error CODE". */
export function tcpConnect(netns: string, target: ConnectTarget): Promise<string> {
  return connectScript(netns, target);
}

/** GET a path over HTTP from inside a namespace: the status code, "timeout" or "error CODE". */
export function httpGet(netns: string, target: ConnectTarget & { readonly path: string }): Promise<string> {
  return connectScript(netns, target);
}

/** `ip -j ARGS` in a namespace (or root when netns is undefined), parsed. */
export async function ipJson<T = Array<Record<string, unknown>>>(
  netns: string | undefined,
  args: readonly string[],
): Promise<T> {
  const argv = netns === undefined ? ["ip", "-j", ...args] : ["ip", "-n", netns, "-j", ...args];
  const out = (await run(argv)).stdout.trim();
  return JSON.parse(out === "" ? "[]" : out) as T;
}

/** Retry `check` until it returns true or the time is up (kernel events settle asynchronously). */
export async function eventually(check: () => Promise<boolean>, timeoutMs = 3000): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 25));
  }
  return check();
}

export interface RootSnapshot {
  readonly links: string[];
  readonly addresses: string[];
  readonly rules: string[];
}

/** The root namespace's links, IPv4 addresses and rules, to prove the lab never touches them. */
export async function rootSnapshot(): Promise<RootSnapshot> {
  const [links, rules, addrs] = await Promise.all([
    run(["ip", "-o", "link", "show"]),
    run(["ip", "rule", "show"]),
    run(["ip", "-4", "-o", "address", "show"]),
  ]);
  // Counters and timers move on their own; names, indices, flags and addresses must not.
  const lines = (s: string): string[] => s.split("\n").filter(Boolean).sort();
  return {
    links: lines(links.stdout).map((l) =>
      l.replace(/\s+qlen \d+|\s+state \S+|\s+mode \S+|\s+group \S+/g, ""),
    ),
    addresses: lines(addrs.stdout).map((l) => l.replace(/valid_lft.*/, "")),
    rules: lines(rules.stdout),
  };
}

/**
 * Like requireKernel for tests that need programs but not root (systemd-notify, socat): true when
 * they are all installed; false (skip) locally otherwise; throws under CI=true.
 */
export function requireTools(tools: readonly string[]): boolean {
  const missing = tools.filter((t) => !onPath(t));
  if (missing.length === 0) return true;
  if (process.env["CI"] === "true") throw new Error(`tests cannot run: missing tools: ${missing.join(", ")}`);
  return false;
}
