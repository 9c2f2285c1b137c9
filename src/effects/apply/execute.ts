// Runs a plan's ops in as few processes as possible. Each op renders through its kind's driver
// (src/kinds/registry.ts) to lines of one tool; consecutive ops of one tool share a process. Route, rule,
// address and link ops go to `ip -4|-6 -batch -` over stdin (consecutive ops of one family share it).
// iproute2 stops a batch at the first failing line and names it ("Command failed -:N"); each line is
// mapped back to the op that rendered it (one op may render to two lines, e.g. a rule change), so the
// failing op is known exactly and every op before it is known to be done. Qdisc, class and filter ops go
// to `tc -batch -` the same way. Sysctl ops are written straight to /proc/sys by this process: apply runs
// inside the node's namespace, so no process is needed; consecutive ones form one step (one progress
// record), each write still checked on its own. Consecutive nft-table ops form one JSON batch for
// `nft -j BATCH`: one kernel transaction, all or nothing, so when it fails none of its ops counts as
// executed. Service ops (a DHCP client started or stopped) run one by one (service-process.ts).
// Deletes of tracked flows go to `conntrack -R FILE` as one batch; it names no failing line, so a failed
// batch counts as not run from its first op (a rollback leaves tracked flows alone either way).
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ToolLine } from "../../kinds/driver.js";
import { batchArgv } from "../../kinds/ip/batch.js";
import { nftArgv, nftBatch } from "../../kinds/nft/table.js";
import { driverOf, objectOfOp, renderContextOf } from "../../kinds/registry.js";
import { sysctlPath } from "../../kinds/sysctl/names.js";
import { tcBatchArgv } from "../../kinds/tc/render.js";
import { conntrackBatchArgv } from "../../kinds/conntrack/nat-flows.js";
import type { Family, Op } from "../../kinds/types.js";
import { run } from "../exec.js";
import { failingLine, failureMessage, type BatchChannel, type ChannelAnswer } from "../batch-channel.js";
import { reloadService, startService, stopService } from "./service-process.js";

export interface OpFailure {
  readonly index: number;
  readonly op: Op;
  /** The command line that failed ("" for an injected failure). */
  readonly command: string;
  /** What the kernel or tool said. */
  readonly message: string;
  /** Some of the op's lines ran before its failing line (a two-line op): the op is half done. */
  readonly partial: boolean;
  /** Every op ran; what failed came after the last one (`op` is that last op). */
  readonly afterLast?: true;
}

export type ExecResult =
  | { readonly ok: true; readonly executed: number; readonly processes: number }
  | {
      readonly ok: false;
      /** Ops (a prefix of the plan) known to be fully executed. */
      readonly executed: number;
      readonly processes: number;
      readonly failure: OpFailure;
    };

/**
 * A deterministic hook for tests: called before op `at` runs ("fail" fails it as the kernel would), or,
 * with `at` equal to the number of ops, after the last op and before verification.
 */
export interface FaultHook {
  readonly at: number;
  readonly run: () => Promise<"fail" | "continue">;
}

export interface ExecOptions {
  /** Run ip in this namespace and write sysctls with `sysctl -w` there (tests); default: this process's namespace. */
  readonly netns?: string;
  readonly timeoutMs?: number;
  /** Called after each batch with the number of ops known to be executed. */
  readonly onProgress?: (executed: number) => void | Promise<void>;
  readonly fault?: FaultHook;
  /**
   * Long-lived `ip -batch` processes (the daemon's), one per family: ip lines go to them instead of a
   * new process per batch, failing lines named the same way.
   */
  readonly ipChannel?: (family: Family | undefined) => BatchChannel;
}

/** A batch process's exit as a channel's answer: done, or the failing line and what the tool said. */
function answerOf(r: { readonly exitCode: number; readonly stderr: string }): ChannelAnswer {
  // conntrack names no failing line: the batch counts as not run from its first op.
  return r.exitCode === 0
    ? { ok: true, outputs: [] }
    : { ok: false, line: failingLine(r.stderr) ?? 1, message: failureMessage(r.stderr) };
}

type Step =
  | {
      readonly tool: "ip" | "tc" | "conntrack";
      /** Set by the first line that has one (link lines are family-neutral). */
      family?: Family;
      readonly start: number;
      readonly lines: string[];
      /** For each line, the index of the op it came from. */
      readonly lineOp: number[];
    }
  /** Consecutive sysctl ops: written one by one, with one progress record for the lot. */
  | { readonly tool: "sysctl"; readonly start: number; readonly sysctls: ToolLine["sysctl"][] }
  /** One service op: a process started or stopped (never batched: each is waited for on its own). */
  | { readonly tool: "service"; readonly start: number; readonly line: ToolLine["service"] }
  /** Consecutive nft ops: one JSON batch, one kernel transaction. */
  | {
      readonly tool: "nft";
      readonly start: number;
      count: number;
      readonly commands: unknown[];
      script?: string;
    };

/**
 * Group ops into steps, in order: consecutive ops whose kinds speak through the same tool share a
 * process. Renders everything first (each kind's driver), so an invalid value is refused before
 * anything runs. `splitAt` starts a new step at that op index (the fault hook's place).
 */
export function steps(ops: readonly Op[], splitAt?: number): Step[] {
  const out: Step[] = [];
  const ctx = renderContextOf(ops);
  ops.forEach((op, i) => {
    const command = driverOf(objectOfOp(op)).command;
    const last = out[out.length - 1];
    const joins = i !== splitAt && last?.tool === command.tool;
    if (command.tool === "sysctl") {
      const lines = command.render(op, ctx);
      if (joins && last.tool === "sysctl") last.sysctls.push(...lines);
      else out.push({ tool: "sysctl", start: i, sysctls: [...lines] });
      return;
    }
    if (command.tool === "service") {
      for (const line of command.render(op, ctx)) out.push({ tool: "service", start: i, line });
      return;
    }
    if (command.tool === "nft") {
      const commands = command.render(op, ctx);
      if (joins && last.tool === "nft") {
        last.commands.push(...commands);
        last.count++;
      } else out.push({ tool: "nft", start: i, count: 1, commands: [...commands] });
      return;
    }
    const tool = command.tool;
    const lines: readonly ToolLine["ip"][] =
      command.tool === "ip" ? command.render(op, ctx) : command.render(op, ctx).map((text) => ({ text }));
    let first = true;
    for (const l of lines) {
      const prev = out[out.length - 1];
      const splitHere = i === splitAt && first;
      first = false;
      if (
        prev !== undefined &&
        prev.tool === tool &&
        !splitHere &&
        (l.family === undefined || prev.family === undefined || prev.family === l.family)
      ) {
        // Appended in place: a plan of 10k ops stays linear.
        if (prev.family === undefined && l.family !== undefined) prev.family = l.family;
        prev.lines.push(l.text);
        prev.lineOp.push(i);
      } else {
        out.push({
          tool,
          ...(l.family === undefined ? {} : { family: l.family }),
          start: i,
          lines: [l.text],
          lineOp: [i],
        });
      }
    }
  });
  for (const s of out) if (s.tool === "nft") s.script = nftBatch(s.commands);
  return out;
}

/**
 * A batch in a private temporary file for the length of `fn`: conntrack reads a batch only from a file
 * it can open, and the stdin a child of Node gets is a socket, which it cannot.
 */
async function withBatchFile<T>(lines: readonly string[], fn: (file: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), "backhaul-batch-"));
  try {
    const file = join(dir, "batch");
    writeFileSync(file, lines.join("\n") + "\n", { mode: 0o600 });
    return await fn(file);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The last op a step holds (lineOp never decreases). */
function lastOp(s: Step): number {
  if (s.tool === "sysctl") return s.start + s.sysctls.length - 1;
  if (s.tool === "nft") return s.start + s.count - 1;
  if (s.tool === "service") return s.start;
  return s.lineOp[s.lineOp.length - 1] ?? s.start;
}

function failure(ops: readonly Op[], index: number, command: string, message: string, partial = false) {
  const op = ops[index];
  if (op === undefined) throw new Error(`no op at index ${index}`);
  return { index, op, command, message: message || "failed", partial };
}

/** A plan rendered for execution: every op validated and turned into its process's lines. */
export interface Prepared {
  readonly ops: readonly Op[];
  readonly steps: readonly Step[];
  /** The fault hook's op index the steps were split at. */
  readonly splitAt: number | undefined;
}

/**
 * Render a plan once, before anything runs (an op that cannot be rendered is refused whole); apply
 * does it before its journal and executes the result, so a plan is rendered once, not twice.
 */
export function prepare(ops: readonly Op[], fault?: FaultHook): Prepared {
  return { ops, steps: steps(ops, fault?.at), splitAt: fault?.at };
}

export function executeOps(ops: readonly Op[], o: ExecOptions = {}): Promise<ExecResult> {
  return executePrepared(prepare(ops, o.fault), o);
}

export async function executePrepared(p: Prepared, o: ExecOptions = {}): Promise<ExecResult> {
  if (p.splitAt !== o.fault?.at) throw new Error("the plan was prepared for another fault hook");
  const { ops, steps: plan } = p;
  let executed = 0;
  let processes = 0;
  for (const s of plan) {
    if (o.fault !== undefined && s.start === o.fault.at && (await o.fault.run()) === "fail")
      return { ok: false, executed, processes, failure: failure(ops, s.start, "", "injected failure") };
    if (s.tool === "sysctl") {
      for (const [k, { name, value }] of s.sysctls.entries()) {
        try {
          if (o.netns === undefined) writeFileSync(sysctlPath(name), `${value}\n`);
          else {
            processes++;
            await run(["sysctl", "-q", "-w", `${name}=${value}`], { netns: o.netns, timeoutMs: o.timeoutMs });
          }
        } catch (e) {
          const message = e instanceof Error ? e.message : String(e);
          // The writes before this one are done.
          executed = s.start + k;
          await o.onProgress?.(executed);
          return {
            ok: false,
            executed,
            processes,
            failure: failure(ops, s.start + k, `${name}=${value}`, message),
          };
        }
      }
    } else if (s.tool === "service") {
      processes++;
      try {
        if (s.line.action === "start")
          await startService(s.line, {
            ...(o.netns === undefined ? {} : { netns: o.netns }),
            ...(o.timeoutMs === undefined ? {} : { timeoutMs: o.timeoutMs }),
          });
        else if (s.line.action === "reload") await reloadService(s.line);
        else await stopService(s.line);
      } catch (e) {
        const message = e instanceof Error ? e.message : String(e);
        await o.onProgress?.(executed);
        return {
          ok: false,
          executed,
          processes,
          failure: failure(ops, s.start, `${s.line.action} ${s.line.argv.join(" ")}`, message),
        };
      }
    } else if (s.tool === "nft") {
      processes++;
      const script = s.script ?? nftBatch(s.commands);
      let r;
      try {
        r = await run(nftArgv(script), {
          allowFailure: true,
          timeoutMs: o.timeoutMs ?? 30_000,
          ...(o.netns === undefined ? {} : { netns: o.netns }),
        });
      } catch (e) {
        const message = e instanceof Error ? e.message : String(e);
        return { ok: false, executed, processes, failure: failure(ops, s.start, "nft -j BATCH", message) };
      }
      if (r.exitCode !== 0) {
        // One transaction: nothing in it took effect, whichever command nft names.
        const message = r.stderr
          .trim()
          .split("\n")
          .filter((l) => l.trim() !== "")
          .join("; ");
        await o.onProgress?.(executed);
        return { ok: false, executed, processes, failure: failure(ops, s.start, "nft -j BATCH", message) };
      }
    } else {
      const channel = s.tool === "ip" ? o.ipChannel?.(s.family) : undefined;
      if (channel === undefined) processes++;
      let r: ChannelAnswer;
      try {
        const opts = {
          allowFailure: true,
          timeoutMs: o.timeoutMs ?? 30_000,
          ...(o.netns === undefined ? {} : { netns: o.netns }),
        } as const;
        r =
          s.tool === "conntrack"
            ? answerOf(await withBatchFile(s.lines, (file) => run(conntrackBatchArgv(file), opts)))
            : channel !== undefined
              ? await channel.request(s.lines, "write")
              : answerOf(
                  await run(s.tool === "tc" ? tcBatchArgv() : batchArgv(s), {
                    ...opts,
                    input: s.lines.join("\n") + "\n",
                  }),
                );
      } catch (e) {
        // A timeout or a missing ip: how far the batch got is unknown, so nothing in it counts as done
        // (rollback re-plans from what the kernel holds, so a line that did run is undone all the same).
        const message = e instanceof Error ? e.message : String(e);
        return { ok: false, executed, processes, failure: failure(ops, s.start, s.lines[0] ?? "", message) };
      }
      if (!r.ok) {
        const { line, message } = r;
        const index = s.lineOp[line - 1] ?? s.start;
        // Every op whose lines all come before the failing line is done.
        executed = index;
        const partial = line >= 2 && s.lineOp[line - 2] === index;
        await o.onProgress?.(executed);
        return {
          ok: false,
          executed,
          processes,
          failure: failure(ops, index, s.lines[line - 1] ?? "", message, partial),
        };
      }
    }
    executed = lastOp(s) + 1;
    await o.onProgress?.(executed);
  }
  // The hook may also sit after the last op, before verification.
  if (
    o.fault !== undefined &&
    o.fault.at === ops.length &&
    ops.length > 0 &&
    (await o.fault.run()) === "fail"
  )
    return {
      ok: false,
      executed,
      processes,
      failure: { ...failure(ops, ops.length - 1, "", "injected failure"), afterLast: true },
    };
  return { ok: true, executed: ops.length, processes };
}
