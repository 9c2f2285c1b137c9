// A recorded node state (`show --json --all`) read back: the round trip gives the observed state
// exactly, and every kind of bad document is refused with the file, line, column and pointer.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseObservation, type RawObservation } from "../../src/effects/observe.js";
import { selectForShow, showDocument } from "../../src/cli/show-view.js";
import { loadRecordedState, RECORD_COMMAND } from "../../src/core/recorded-state.js";
import { canonicalState, keyOf, KIND_NAMES } from "../../src/kinds/registry.js";
import type { KernelState } from "../../src/kinds/types.js";
import { SHOW_SCHEMA } from "../../src/policy/document-schemas.js";
import { kernelStateArb } from "../arbitraries/kernel-state.js";

const raw = JSON.parse(
  readFileSync(fileURLToPath(new URL("../fixtures/observe/lab-node.raw.json", import.meta.url)), "utf8"),
) as RawObservation;

// The lab fixture has no services of ours running, no DHCP client and no NAT'ed flows: add them as
// observation gives them (test/kernel/observe.test.ts), so every kind takes part in the round trip.
const observed: KernelState = canonicalState({
  ...parseObservation(raw),
  dnsmasq: [
    {
      kind: "dnsmasq",
      iface: "wlan0",
      argv: ["dnsmasq", "--keep-in-foreground", "--interface=wlan0"],
      pid: 4242,
      leases: [{ mac: "02:00:00:00:00:09", address: "10.42.0.50", expires: 1700000000, hostname: "phone" }],
    },
  ],
  "dhcp-client": [
    {
      kind: "dhcp-client",
      iface: "wwan0",
      argv: ["udhcpc", "-f", "-i", "wwan0"],
      pid: 4343,
      lease: { address: "100.64.2.2/24", router: "100.64.2.1", dns: ["100.64.2.1"], seconds: 600 },
    },
  ],
  conntrack: [
    { kind: "conntrack", family: 4, address: "203.0.113.2", source: "10.42.0.50", iface: "wwan0", flows: 3 },
  ],
});

const recorded = (doc: object): string => `${JSON.stringify(doc, null, 2)}\n`;
const record = (s: KernelState, netns?: string): string =>
  recorded(showDocument(s, { all: true, stateDir: "/var/lib/backhaul", ...(netns ? { netns } : {}) }));

/** A recorded document with a change made to its parsed form. */
function edited(
  change: (doc: { state: Record<string, unknown[]> } & Record<string, unknown>) => void,
): string {
  const doc = JSON.parse(record(observed, "edge1")) as { state: Record<string, unknown[]> } & Record<
    string,
    unknown
  >;
  change(doc);
  return recorded(doc);
}

function refused(
  text: string,
): { code: string; summary: string; pointer: string; line: number; column: number }[] {
  const r = loadRecordedState(text, "node.json");
  if (r.ok) throw new Error("expected the document to be refused");
  return r.diagnostics.map((d) => {
    expect(d.location?.file).toBe("node.json");
    return {
      code: d.code,
      summary: d.summary,
      pointer: d.pointer,
      line: d.location!.start.line,
      column: d.location!.start.column,
    };
  });
}

/** The 1-based line of the first line of `text` that contains `needle`, after line `after`. */
const lineOf = (text: string, needle: string, after = 0): number =>
  text.split("\n").findIndex((l, i) => i >= after && l.includes(needle)) + 1;

describe("a recorded node state read back", () => {
  it("holds every kind of the registry, as the show schema lists them", () => {
    const state = (SHOW_SCHEMA as { properties: { state: { required: string[] } } }).properties.state;
    expect(state.required).toEqual([...KIND_NAMES]);
    for (const k of KIND_NAMES) expect(observed[k].length, k).toBeGreaterThan(0);
  });

  it("is the observed state exactly, with the namespace and state directory it was observed with", () => {
    const r = loadRecordedState(record(observed, "edge1"), "node.json");
    expect(r).toStrictEqual({
      ok: true,
      file: "node.json",
      observed,
      netns: "edge1",
      stateDir: "/var/lib/backhaul",
    });
  });

  it("gives no namespace for the host's, and no state directory for a document that names none", () => {
    const r = loadRecordedState(recorded(showDocument(observed, { all: true })), "host.json");
    expect(r.ok && { netns: r.netns, stateDir: r.stateDir }).toEqual({
      netns: undefined,
      stateDir: undefined,
    });
  });

  it("keeps IPv6's fe80::/64 of every link, each under its own key", () => {
    const linkLocal = observed.route.filter((r) => r.dst === "fe80::/64" && r.table === 254);
    expect(linkLocal.length).toBeGreaterThan(1);
    expect(new Set(linkLocal.map(keyOf)).size).toBe(linkLocal.length);
    const r = loadRecordedState(record(observed), "node.json");
    expect(r.ok && r.observed.route.filter((x) => x.dst === "fe80::/64" && x.table === 254)).toStrictEqual(
      linkLocal,
    );
  });

  it("round-trips every generated kernel state", () => {
    fc.assert(
      fc.property(kernelStateArb(), (s) => {
        const r = loadRecordedState(record(s), "gen.json");
        expect(r.ok && r.observed).toStrictEqual(s);
      }),
      { numRuns: 100 },
    );
  });

  it("puts objects listed out of order back in the canonical order", () => {
    const text = edited((d) => {
      d.state["link"]!.reverse();
      d.state["sysctl"]!.reverse();
    });
    const r = loadRecordedState(text, "node.json");
    expect(r.ok && r.observed).toStrictEqual(observed);
  });
});

describe("a bad recorded node state is refused, saying where", () => {
  it("text that is not JSON, at its line and column", () => {
    const good = record(observed);
    const cut = good.slice(0, good.indexOf('"rule"'));
    const [d] = refused(`${cut}"rule": [,]}}`);
    expect(d).toMatchObject({ code: "state-syntax", line: lineOf(good, '"rule"') });
    expect(d!.summary).toBe("recorded node state: not JSON: Unexpected token ','");
    expect(d!.column).toBeGreaterThan(1);
  });

  it("text that ends early, at its end; an empty file at 1:1", () => {
    const good = record(observed);
    const lines = good.trimEnd().split("\n");
    expect(refused(lines.slice(0, 30).join("\n"))[0]).toMatchObject({ code: "state-syntax", line: 30 });
    expect(refused("")[0]).toMatchObject({ code: "state-syntax", line: 1, column: 1 });
  });

  it("a document recorded without --all, naming the command to record it with", () => {
    const text = recorded(showDocument(selectForShow(observed, false), { all: false }));
    const [d, ...rest] = refused(text);
    expect(rest).toEqual([]);
    expect(d).toMatchObject({ code: "state-document", pointer: "/all", line: lineOf(text, '"all"') });
    expect(d!.summary).toContain("recorded without --all");
    const r = loadRecordedState(text, "node.json");
    expect(!r.ok && r.diagnostics[0]!.detail).toContain(RECORD_COMMAND);
  });

  it("another format version, or something that is not a show document", () => {
    expect(refused(edited((d) => (d["format_version"] = 2)))).toEqual([
      expect.objectContaining({ code: "state-document", pointer: "/format_version" }),
    ]);
    expect(refused('{"format_version": "1.0", "valid": true}\n').map((d) => d.summary)).toEqual(
      expect.arrayContaining([
        expect.stringContaining('missing field "state"'),
        expect.stringContaining('unknown field "valid"'),
      ]),
    );
  });

  it("a kind missing, or one this backhaul does not know", () => {
    expect(refused(edited((d) => delete d.state["conntrack"]))).toEqual([
      expect.objectContaining({ code: "state-document", pointer: "/state" }),
    ]);
    const [d] = refused(edited((d) => (d.state["vlan"] = [])));
    expect(d).toMatchObject({ code: "state-document", pointer: "/state/vlan" });
    expect(d!.summary).toContain('unknown field "vlan"');
  });

  it("an object with a field of the wrong type, or one its kind does not have, at that field's line", () => {
    const text = edited((d) => {
      (d.state["route"]![2] as Record<string, unknown>)["table"] = "main";
      (d.state["link"]![1] as Record<string, unknown>)["colour"] = "blue";
    });
    const ds = refused(text);
    expect(ds.map((d) => [d.code, d.pointer])).toEqual([
      ["state-object", "/state/link/1/colour"],
      ["state-object", "/state/route/2/table"],
    ]);
    expect(ds[0]!.line).toBe(lineOf(text, '"colour"'));
    expect(ds[1]!.line).toBe(lineOf(text, '"table": "main"'));
    expect(ds[1]!.summary).toBe("recorded node state: /state/route/2/table: must be integer");
  });

  it("an object listed under another kind", () => {
    const text = edited((d) => d.state["rule"]!.push(d.state["route"]![0]));
    const ds = refused(text);
    expect(
      ds.every(
        (d) => d.code === "state-object" && d.pointer.startsWith(`/state/rule/${observed.rule.length}`),
      ),
    ).toBe(true);
    expect(ds.length).toBeGreaterThan(0);
  });

  it("an object given twice, pointing at the second and naming the first", () => {
    const text = edited((d) => d.state["route"]!.push(d.state["route"]![3]));
    const [d, ...rest] = refused(text);
    expect(rest).toEqual([]);
    expect(d).toMatchObject({ code: "state-object", pointer: `/state/route/${observed.route.length}` });
    expect(d!.summary).toContain("is given twice (also at /state/route/3)");
  });

  it("at most 20 problems, the last saying how many more there were", () => {
    const ds = refused(
      edited((d) =>
        [...d.state["sysctl"]!, ...d.state["rule"]!].forEach(
          (o) => ((o as Record<string, unknown>)["kind"] = 1),
        ),
      ),
    );
    const wrong = observed.sysctl.length + observed.rule.length;
    expect(wrong).toBeGreaterThan(20);
    expect(ds).toHaveLength(20);
    expect(ds[19]!.summary).toContain(`(and ${wrong - 20} more problems)`);
  });
});
