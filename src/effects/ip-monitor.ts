// Kernel events from a long-lived `ip -ts monitor label link address route rule netconf` (netconf: a
// device's or the namespace's forwarding, rp_filter or ignore_routes_with_linkdown written, which
// every sysctl backhaul observes notifies). iproute2 6.1 prints
// text here even with -j, so the text is parsed: each message is a header line
// `[TIMESTAMP] [LABEL]...` ("Deleted " before the body for removals) followed by indented
// continuation lines. A supervisor (effects/supervised.ts) restarts the process with exponential
// backoff when it dies.
import { supervise, type BackoffOptions, type RestartInfo, type Supervised } from "./supervised.js";

export interface LinkEvent {
  readonly kind: "link";
  readonly ifindex: number;
  readonly ifname: string;
  readonly deleted: boolean;
  /** IFF_UP: an administrator (or backhaul) set the link up. */
  readonly adminUp: boolean;
  /** LOWER_UP present and NO-CARRIER absent. */
  readonly carrier: boolean;
  /** The kernel's operstate: UP, DOWN, LOWERLAYERDOWN, UNKNOWN, DORMANT... */
  readonly operstate: string;
  readonly flags: readonly string[];
  /** When ip received the message: epoch milliseconds, with microseconds as the fraction. */
  readonly at: number;
}

export interface ChangeEvent {
  readonly kind: "address" | "route" | "rule" | "netconf";
  /** The message as ip printed it (without timestamp, label and "Deleted "), continuation lines joined by "\n". */
  readonly text: string;
  readonly deleted: boolean;
  /** The interface it concerns: the address's interface, the route's `dev`, the netconf's device
   * ("all" and "default" for the namespace's); absent for rules. */
  readonly ifname?: string;
  readonly at: number;
}

export type MonitorEvent = LinkEvent | ChangeEvent;

export const MONITOR_ARGV = [
  "ip",
  "-ts",
  "monitor",
  "label",
  "link",
  "address",
  "route",
  "rule",
  "netconf",
] as const;
/** ip prints local time without a zone: run it in UTC so the timestamps parse unambiguously. */
const MONITOR_ENV = { TZ: "UTC" } as const;

const HEADER = /^\[(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?\] \[([A-Z]+)\](Deleted )?(.*)$/;
const LINK = /^(\d+): ([^@:\s]+)(?:@[^:\s]*)?: <([^>]*)>(.*)$/;
const ADDRESS = /^\d+: (\S+)\s/;
const DEV = /(?:^| )dev (\S+)/;
/** "inet6 eth0 forwarding on": the family, then the device. */
const NETCONF = /^\S+ (\S+)/;
const KIND_OF_LABEL: Readonly<Record<string, ChangeEvent["kind"] | "link">> = {
  LINK: "link",
  ADDR: "address",
  ROUTE: "route",
  RULE: "rule",
  NETCONF: "netconf",
};

function timeOf(seconds: string, fraction: string | undefined): number {
  const frac = fraction === undefined ? 0 : Number(`0.${fraction}`) * 1000;
  return Date.parse(`${seconds}Z`) + frac;
}

type Header = { readonly event: MonitorEvent } | { readonly problem: string };

function parseHeader(line: string): Header {
  const h = HEADER.exec(line);
  if (h === null) return { problem: `not an ip monitor message: ${JSON.stringify(line)}` };
  const [, seconds = "", fraction, label = "", deletedMark, body = ""] = h;
  const at = timeOf(seconds, fraction);
  const deleted = deletedMark !== undefined;
  const kind = KIND_OF_LABEL[label];
  if (kind === undefined) return { problem: `unexpected ip monitor message kind [${label}]` };
  if (kind !== "link") {
    const ifname =
      kind === "address"
        ? ADDRESS.exec(body)?.[1]
        : kind === "route"
          ? DEV.exec(body)?.[1]
          : kind === "netconf"
            ? NETCONF.exec(body)?.[1]
            : undefined;
    const text = body.trimEnd();
    return {
      event: ifname === undefined ? { kind, text, deleted, at } : { kind, text, deleted, ifname, at },
    };
  }
  const l = LINK.exec(body);
  if (l === null) return { problem: `unreadable link message: ${JSON.stringify(line)}` };
  const [, index = "", ifname = "", flagList = "", rest = ""] = l;
  const flags = flagList === "" ? [] : flagList.split(",");
  return {
    event: {
      kind: "link",
      ifindex: Number(index),
      ifname,
      deleted,
      adminUp: flags.includes("UP"),
      carrier: flags.includes("LOWER_UP") && !flags.includes("NO-CARRIER"),
      operstate: / state (\S+)/.exec(rest)?.[1] ?? "UNKNOWN",
      flags,
      at,
    },
  };
}

export interface ParsedOutput {
  readonly events: readonly MonitorEvent[];
  /** Lines that were not ip monitor messages (reported, never guessed at). */
  readonly problems: readonly string[];
}

/**
 * Turns ip's output, chunk by chunk, into events. Every complete message of a chunk is returned
 * with that chunk: a link event as soon as its header line is complete (the carrier-loss fast path
 * must not wait for more output); continuation lines are added to the address, route or rule
 * message they follow within the chunk (ip writes each message with one flush).
 */
export class MonitorParser {
  private partial = "";

  push(chunk: string): ParsedOutput {
    const lines = (this.partial + chunk).split("\n");
    this.partial = lines.pop() ?? "";
    const events: MonitorEvent[] = [];
    const problems: string[] = [];
    let pending: ChangeEvent | undefined;
    const flush = (): void => {
      if (pending !== undefined) events.push(pending);
      pending = undefined;
    };
    for (const line of lines) {
      if (line.trim() === "") continue;
      if (/^\s/.test(line)) {
        if (pending !== undefined) pending = { ...pending, text: `${pending.text}\n${line.trim()}` };
        continue;
      }
      flush();
      const h = parseHeader(line);
      if ("problem" in h) problems.push(h.problem);
      else if (h.event.kind === "link") events.push(h.event);
      else pending = h.event;
    }
    flush();
    return { events, problems };
  }
}

export interface MonitorOptions {
  readonly onEvent: (e: MonitorEvent) => void;
  /**
   * A new ip process replaced one that died. Events in between were missed: the loop should run a
   * full pass.
   */
  readonly onRestart?: (info: RestartInfo) => void;
  /** The process died (restart pending) or printed something that is not an event. */
  readonly onError?: (e: Error) => void;
  /** ip said something on standard error (it has lost messages: "No buffer space available"). */
  readonly onStderr?: (text: string) => void;
  /** Watch this namespace (tests); the daemon itself runs inside the namespace it manages. */
  readonly netns?: string;
  readonly backoff?: Partial<BackoffOptions>;
}

export type Monitor = Supervised;

export function startMonitor(o: MonitorOptions): Monitor {
  const report = (e: Error): void => o.onError?.(e);
  let parser = new MonitorParser();
  return supervise({
    argv: MONITOR_ARGV,
    ...(o.netns === undefined ? {} : { netns: o.netns }),
    env: MONITOR_ENV,
    ...(o.backoff === undefined ? {} : { backoff: o.backoff }),
    onStdout: (chunk) => {
      const out = parser.push(chunk);
      for (const e of out.events) {
        // A handler's bug must not take the stream (or the daemon) down with it.
        try {
          o.onEvent(e);
        } catch (err) {
          report(new Error(`ip monitor: event handler failed: ${(err as Error).message}`));
        }
      }
      for (const p of out.problems) report(new Error(`ip monitor: ${p}`));
    },
    onStderr: (text) => o.onStderr?.(text),
    onRestart: (info) => {
      parser = new MonitorParser();
      o.onRestart?.(info);
    },
    onMissing: (message) => report(new Error(`ip monitor: ${message}`)),
    onDeath: (reason, afterMs) => report(new Error(`ip monitor ${reason}; restarting in ${afterMs} ms`)),
  });
}
