// The kernel as oracle: load a state into one lab namespace (reset between states) and ask
// `ip route get` for many flows in a single batch; compare with the model's answers.
import type { KernelState } from "../../../src/kinds/types.js";
import type { LookupQuery, LookupResult } from "../../../src/core/model-kernel/index.js";
import { batchArgv, batchInput, renderState } from "../../../src/kinds/ip/batch.js";
import { run } from "../../../src/effects/exec.js";
import { defaultRules, nexthopsOf } from "../../../src/core/model-kernel/kernel.js";

export interface KernelAnswer {
  readonly ok: boolean;
  /** For an answer: the route's type, table, dev and gateway; for a refusal: the error text. */
  readonly type?: string;
  readonly table?: number;
  readonly dev?: string;
  readonly gateway?: string;
  readonly error?: string;
}

const TABLE_NAMES: Readonly<Record<string, number>> = { local: 255, main: 254, default: 253 };

/**
 * Bring the namespace back to a fresh one's routing: remove what a previous state left (its links with
 * their routes, its rules, the routes in its tables, its sysctls) and restore the default rules. Also
 * run before the first state: once the default rules have been re-added IPv4 keeps its local table apart
 * from main (a namespace that never had a rule added reports local routes as in table main).
 */
export async function resetNamespace(ns: string, prev: KernelState | undefined): Promise<void> {
  const tables = [...new Set((prev?.route ?? []).map((r) => r.table))];
  for (const f of [4, 6] as const) {
    const lines = [
      "rule flush",
      ...defaultRules()
        .filter((r) => r.family === f && r.priority > 0)
        .map((r) => `rule add priority ${r.priority} protocol ${r.protocol} lookup ${r.table}`),
      ...tables.map((t) => `route flush table ${t}`),
      ...(f === 4
        ? (prev?.link ?? []).filter((l) => l.name !== "lo").map((l) => `link del dev ${l.name}`)
        : []),
    ];
    await run(["ip", `-${f}`, "-force", "-batch", "-"], {
      netns: ns,
      input: lines.join("\n") + "\n",
      allowFailure: true,
    });
  }
  const sysctls = (prev?.sysctl ?? []).filter((s) => s.name.includes(".all."));
  if (sysctls.length) await run(["sysctl", "-q", "-w", ...sysctls.map((s) => `${s.name}=0`)], { netns: ns });
}

/** Load a state into a fresh or reset namespace. */
export async function loadState(ns: string, s: KernelState): Promise<void> {
  const rendered = renderState(s);
  for (const b of rendered.batches) {
    const r = await run(batchArgv(b), { netns: ns, input: batchInput(b), allowFailure: true });
    if (r.exitCode !== 0)
      throw new Error(`loading the state failed: ${r.stderr.trim()}\n${b.lines.join("\n")}`);
  }
  if (rendered.sysctls.length)
    await run(["sysctl", "-q", "-w", ...rendered.sysctls.map((x) => `${x.name}=${x.value}`)], { netns: ns });
}

export function routeGetLine(q: LookupQuery): string {
  return [
    "route get",
    q.dst,
    ...(q.src !== undefined ? ["from", q.src] : []),
    ...(q.iif !== undefined ? ["iif", q.iif] : []),
    ...(q.oif !== undefined ? ["oif", q.oif] : []),
    ...(q.mark !== undefined ? ["mark", String(q.mark)] : []),
  ].join(" ");
}

/** Ask the kernel about every query in one `ip -j -force -batch`. */
export async function kernelLookups(ns: string, qs: readonly LookupQuery[]): Promise<KernelAnswer[]> {
  const r = await run(["ip", "-j", "-force", "-batch", "-"], {
    netns: ns,
    input: qs.map(routeGetLine).join("\n") + "\n",
    allowFailure: true,
  });
  // Failed lines print their error then "Command failed -:N" on stderr; answered lines print one JSON array each.
  const failed = new Map<number, string>();
  let pending: string[] = [];
  for (const line of r.stderr.split("\n")) {
    const m = /^Command failed -:(\d+)$/.exec(line.trim());
    if (m) {
      failed.set(Number(m[1]), pending.join(" ").trim());
      pending = [];
    } else if (line.trim()) pending.push(line.trim());
  }
  const answers = r.stdout.split("\n").filter((l) => l.trim().startsWith("["));
  const out: KernelAnswer[] = [];
  let next = 0;
  for (let i = 1; i <= qs.length; i++) {
    const err = failed.get(i);
    if (err !== undefined) {
      out.push({ ok: false, error: err.replace(/^RTNETLINK answers: /, "") });
      continue;
    }
    const text = answers[next++];
    if (text === undefined)
      throw new Error(`no answer from the kernel for line ${i}: ${routeGetLine(qs[i - 1]!)}`);
    const j = (JSON.parse(text) as Record<string, unknown>[])[0] ?? {};
    const table = j.table === undefined ? 254 : (TABLE_NAMES[String(j.table)] ?? Number(j.table));
    out.push({
      ok: true,
      type: typeof j.type === "string" ? j.type : "unicast",
      table,
      ...(typeof j.dev === "string" ? { dev: j.dev } : {}),
      ...(typeof j.gateway === "string" ? { gateway: j.gateway } : {}),
    });
  }
  return out;
}

const ERRNO_TEXT: Readonly<Record<number, string>> = {
  22: "Invalid argument",
  113: "No route to host",
  13: "Permission denied",
  101: "Network is unreachable",
};

/**
 * Among routes for the same prefix in one table the kernel may pick another than the lowest metric:
 * IPv4 alternates default routes whose gateway's neighbour entry looks dead (fib_select_default), IPv6
 * scores routes by neighbour reachability (rt6_score_route). That choice depends on neighbour state the
 * model does not hold, so any route for the same prefix and table is an acceptable kernel answer.
 */
function samePrefixAlternative(state: KernelState, model: LookupResult, kernel: KernelAnswer): boolean {
  if (model.kind !== "route") return false;
  return state.route.some(
    (r) =>
      r.family === model.route.family &&
      r.table === model.table &&
      r.dst === model.route.dst &&
      r.type === "unicast" &&
      nexthopsOf(r).some((h) => h.dev === kernel.dev && h.gateway === kernel.gateway),
  );
}

/** Why the model and the kernel disagree, or undefined when they agree. */
export function disagreement(
  state: KernelState,
  model: LookupResult,
  kernel: KernelAnswer,
): string | undefined {
  if (model.kind === "error") {
    if (!kernel.ok && kernel.error === ERRNO_TEXT[model.errno]) return undefined;
    return `model: ${model.error} (errno ${model.errno}); kernel: ${JSON.stringify(kernel)}`;
  }
  if (!kernel.ok) return `model: ${model.type} in table ${model.table}; kernel: ${kernel.error}`;
  if (kernel.type !== model.type || kernel.table !== model.table)
    return `model: ${model.type} in table ${model.table}; kernel: ${kernel.type} in table ${kernel.table}`;
  if (model.type === "unicast") {
    const hit = model.nexthops.some((h) => h.dev === kernel.dev && h.gateway === kernel.gateway);
    if (!hit && !samePrefixAlternative(state, model, kernel))
      return `model nexthops ${JSON.stringify(model.nexthops)}; kernel: dev ${kernel.dev} via ${kernel.gateway ?? "-"}`;
  }
  return undefined;
}
