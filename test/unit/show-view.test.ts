import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parseObservation, type RawObservation } from "../../src/effects/observe.js";
import { renderShow, selectForShow, showDocument } from "../../src/cli/show-view.js";
import { rateText } from "../../src/kinds/show-text.js";

const raw = JSON.parse(
  readFileSync(fileURLToPath(new URL("../fixtures/observe/lab-node.raw.json", import.meta.url)), "utf8"),
) as RawObservation;
const state = parseObservation(raw);

describe("show's default view", () => {
  const shown = selectForShow(state, false);
  it("keeps links that could be an uplink or a hotspot, and their non-link-local addresses", () => {
    expect(shown.link.map((l) => l.name)).toEqual(["eth0", "wwan0"]);
    expect(shown.address.map((a) => a.local)).toEqual([
      "198.51.100.2/24",
      "2001:db8:1::2/64",
      "203.0.113.2/24",
    ]);
  });
  it("leaves out the kernel's default rules and the local table, keeps every other rule and table", () => {
    expect(shown.rule.some((r) => r.priority === 32766 || r.priority === 0)).toBe(false);
    expect(shown.rule.length).toBe(state.rule.length - 5);
    expect(new Set(shown.route.map((r) => r.table))).toEqual(new Set([101, 102, 103, 104, 254]));
  });
  it("shows configured qdisc trees only", () => {
    expect(shown.qdisc.every((q) => q.handle !== "0:")).toBe(true);
    expect(shown.qdisc.map((q) => q.qdiscKind).sort()).toEqual(["bfifo", "htb", "ingress", "pfifo"]);
  });
  it("keeps everything with --all", () => {
    expect(selectForShow(state, true)).toEqual(state);
  });
});

describe("show's output", () => {
  it("renders each section people look for", () => {
    const text = renderShow(selectForShow(state, false), { all: false, netns: "bhlx" });
    for (const title of [
      "Links (netns bhlx)",
      "Rules (IPv4)",
      "Rules (IPv6)",
      "Routes: table 101",
      "Traffic control: eth0",
      "Hotspot",
      "nftables",
      "Sysctls",
    ]) {
      expect(text).toContain(`${title}\n`);
    }
    expect(text).toContain("  1004: from all fwmark 0x10/0xff lookup 105");
    expect(text).toContain(
      "0.0.0.0/0 proto boot nexthop via 198.51.100.1 dev eth0 weight 2 nexthop via 203.0.113.1 dev wwan0 weight 1",
    );
    expect(text).toMatch(/class htb 1:10 prio 0 rate 5Mbit ceil 10Mbit/);
  });
  it("versions its JSON document", () => {
    expect(showDocument(state, { all: true })).toEqual({ format_version: 1, netns: null, all: true, state });
  });
  it("writes rates in the largest unit that keeps them short", () => {
    expect([rateText(5_000_000), rateText(1_500_000), rateText(2_000_000_000), rateText(999)]).toEqual([
      "5Mbit",
      "1.5Mbit",
      "2Gbit",
      "999bit",
    ]);
  });
});
