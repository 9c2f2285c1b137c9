import { describe, expect, it } from "vitest";
import { forwardVerdict, type ForwardedPacket } from "../../../src/core/model-kernel/filter.js";
import { parseNftTables } from "../../../src/kinds/nft/table.js";
import type { NftTable } from "../../../src/kinds/types.js";

/** Tables as `nft -j list ruleset` prints them (captured from nft 1.0.6), through our parser. */
function ruleset(...items: object[]): NftTable[] {
  return parseNftTables({ nftables: [{ metainfo: { json_schema_version: 1 } }, ...items] });
}
const table = (family: string, name: string) => ({ table: { family, name, handle: 1 } });
const chain = (name: string, o: object = {}) => ({
  chain: { family: "inet", table: "fw", name, handle: 1, ...o },
});
const base = (policy: "accept" | "drop", prio = 0) =>
  chain("forward_filter", { type: "filter", hook: "forward", prio, policy });
const rule = (chainName: string, ...expr: object[]) => ({
  rule: { family: "inet", table: "fw", chain: chainName, handle: 9, expr },
});
const match = (op: string, left: object, right: unknown) => ({ match: { op, left, right } });
const meta = (key: string) => ({ meta: { key } });
const payload = (protocol: string, field: string) => ({ payload: { protocol, field } });

const P: ForwardedPacket = {
  iifname: "wlan0",
  oifname: "eth0",
  saddr: "100.64.50.2",
  daddr: "203.0.113.7",
  l4proto: "tcp",
  sport: 40000,
  dport: 443,
};

describe("the model kernel's forward filter", () => {
  it("accepts with no table, and with only chains on other hooks or of other types", () => {
    expect(forwardVerdict([], P)).toEqual({ verdict: "accept" });
    const t = ruleset(
      table("inet", "fw"),
      chain("in", { type: "filter", hook: "input", prio: 0, policy: "drop" }),
      chain("nat", { type: "nat", hook: "postrouting", prio: 100, policy: "accept" }),
    );
    expect(forwardVerdict(t, P)).toEqual({ verdict: "accept" });
  });

  it("drops by a base chain's policy, and names the chain", () => {
    const v = forwardVerdict(ruleset(table("inet", "fw"), base("drop")), P);
    expect(v).toMatchObject({ verdict: "drop", at: { chain: "forward_filter", rule: "policy" } });
  });

  it("lets a rule that matches the packet decide before the policy; one that does not, not", () => {
    const t = (right: string) =>
      ruleset(
        table("inet", "fw"),
        base("drop"),
        rule("forward_filter", match("==", meta("iifname"), right), { accept: null }),
      );
    expect(forwardVerdict(t("wlan0"), P).verdict).toBe("accept");
    expect(forwardVerdict(t("wlan*"), P).verdict).toBe("accept");
    expect(forwardVerdict(t("eth1"), P)).toMatchObject({ verdict: "drop", at: { rule: "policy" } });
  });

  it("reads addresses, prefixes, ranges, anonymous and named sets, ports and the protocol", () => {
    const drops = (...expr: object[]) =>
      forwardVerdict(
        ruleset(
          table("inet", "fw"),
          {
            set: {
              family: "inet",
              table: "fw",
              name: "bad",
              type: "ipv4_addr",
              elem: ["10.1.1.1", { prefix: { addr: "203.0.113.0", len: 24 } }],
            },
          },
          base("accept"),
          rule("forward_filter", ...expr, { drop: null }),
        ),
        P,
      ).verdict;
    expect(drops(match("==", payload("ip", "saddr"), { prefix: { addr: "100.64.50.0", len: 24 } }))).toBe(
      "drop",
    );
    expect(drops(match("==", payload("ip", "saddr"), { prefix: { addr: "10.0.0.0", len: 8 } }))).toBe(
      "accept",
    );
    expect(drops(match("==", payload("ip", "daddr"), "@bad"))).toBe("drop");
    expect(drops(match("!=", payload("ip", "daddr"), "@bad"))).toBe("accept");
    expect(drops(match("==", payload("ip", "daddr"), { range: ["203.0.113.1", "203.0.113.9"] }))).toBe(
      "drop",
    );
    expect(drops(match("==", payload("tcp", "dport"), { set: [80, 443] }))).toBe("drop");
    // A udp port of a tcp packet: the packet has no such header, the rule does not match.
    expect(drops(match("==", payload("udp", "dport"), 443))).toBe("accept");
    expect(drops(match("==", payload("ip6", "saddr"), "fd00::1"))).toBe("accept");
    expect(drops(match("==", payload("ip", "protocol"), "icmp"))).toBe("accept");
    expect(drops(match("==", meta("l4proto"), "tcp"))).toBe("drop");
    // A new connection is neither established nor related.
    expect(drops(match("in", { ct: { key: "state" } }, ["established", "related"]))).toBe("accept");
    expect(drops(match("in", { ct: { key: "state" } }, "new"))).toBe("drop");
  });

  it("treats reject as a drop and follows jumps, returns and gotos", () => {
    const t = (...rules: object[]) =>
      forwardVerdict(ruleset(table("inet", "fw"), base("accept"), chain("sub"), ...rules), P);
    expect(t(rule("forward_filter", { reject: { type: "icmp", expr: "port-unreachable" } })).verdict).toBe(
      "drop",
    );
    expect(t(rule("forward_filter", { jump: { target: "sub" } }), rule("sub", { drop: null })).verdict).toBe(
      "drop",
    );
    expect(
      t(
        rule("forward_filter", { jump: { target: "sub" } }),
        rule("sub", { return: null }),
        rule("forward_filter", { drop: null }),
      ).verdict,
    ).toBe("drop");
    // A goto's chain that runs out ends the base chain (its policy): the drop after it never runs.
    expect(
      t(
        rule("forward_filter", { goto: { target: "sub" } }),
        rule("sub", { counter: null }),
        rule("forward_filter", { drop: null }),
      ).verdict,
    ).toBe("accept");
  });

  it("runs every base chain in priority order: an accept ends only its own chain, a drop the packet", () => {
    const t = ruleset(
      table("inet", "fw"),
      base("accept", -10),
      rule("forward_filter", { accept: null }),
      table("ip", "other"),
      {
        chain: {
          family: "ip",
          table: "other",
          name: "c",
          handle: 1,
          type: "filter",
          hook: "forward",
          prio: 0,
          policy: "drop",
        },
      },
    );
    expect(forwardVerdict(t, P)).toMatchObject({
      verdict: "drop",
      at: { table: { name: "other" }, chain: "c" },
    });
  });

  it("is definite only when the unknowns cannot change it", () => {
    const mark = match("==", meta("mark"), 7);
    const t = (...rules: object[]) =>
      forwardVerdict(ruleset(table("inet", "fw"), base("accept"), ...rules), P);
    // A drop behind a mark: unknown, not a drop.
    expect(t(rule("forward_filter", mark, { drop: null }))).toMatchObject({ verdict: "unknown" });
    // An accept behind the mark, a drop after it: the mark decides, so unknown.
    expect(
      t(rule("forward_filter", mark, { accept: null }), rule("forward_filter", { drop: null })).verdict,
    ).toBe("unknown");
    // A drop either way is a drop.
    expect(
      t(rule("forward_filter", mark, { drop: null }), rule("forward_filter", { drop: null })).verdict,
    ).toBe("drop");
    // A match the packet settles as false makes the unknown one irrelevant.
    expect(
      t(rule("forward_filter", match("==", meta("iifname"), "eth9"), mark, { drop: null })).verdict,
    ).toBe("accept");
  });

  it("ignores tables of families the forward hook of IPv4 does not run (ip6, bridge, arp, netdev)", () => {
    const t = ruleset(table("ip6", "fw"), {
      chain: {
        family: "ip6",
        table: "fw",
        name: "c",
        handle: 1,
        type: "filter",
        hook: "forward",
        prio: 0,
        policy: "drop",
      },
    });
    expect(forwardVerdict(t, P).verdict).toBe("accept");
  });
});
