import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { digest } from "../../src/util/canonical.js";
import { run } from "../../src/effects/exec.js";
import { parseObservation, type RawObservation } from "../../src/effects/observe.js";
import { classifyLink } from "../../src/kinds/link-class.js";
import { parseRoutes } from "../../src/kinds/ip/route.js";
import { parseRules } from "../../src/kinds/ip/rule.js";
import { factsCommand, parseFacts } from "../../src/kinds/sysfs.js";
import { decodeU32 } from "../../src/kinds/tc/u32.js";
import {
  numberDuplicateMatches,
  parseClassLine,
  parseFilters,
  parseTree,
  tcValue,
} from "../../src/kinds/tc/parse.js";
import { parseNftTable } from "../../src/kinds/nft/table.js";
import { parseHostapdStatus, securityOf, ssidOf } from "../../src/kinds/services/hostapd.js";
import { splitBatchOutput } from "../../src/kinds/json.js";

const fixture = (p: string): string => fileURLToPath(new URL(`../fixtures/${p}`, import.meta.url));
const readJson = (p: string): unknown => JSON.parse(readFileSync(fixture(p), "utf8"));
const labRaw = readJson("observe/lab-node.raw.json") as RawObservation;

describe("link classification", () => {
  it.each([
    [{ name: "wlp2s0", wireless: true, driver: "iwlwifi" }, "wifi"],
    [{ name: "usb0", wireless: false, driver: "rndis_host" }, "usb-tether"],
    [{ name: "enx0a1b2c3d4e5f", wireless: false, driver: "cdc_ether" }, "usb-tether"],
    [{ name: "eth1", wireless: false, driver: "ipheth" }, "usb-tether"],
    [{ name: "usb1", wireless: false, driver: "cdc_ncm" }, "usb-tether"],
    [{ name: "wwan0", wireless: false, driver: "qmi_wwan" }, "lte"],
    [{ name: "mbim0", wireless: false, driver: "cdc_mbim" }, "lte"],
    [{ name: "hso0", wireless: false, driver: "option" }, "lte"],
    [{ name: "ppp0", wireless: false }, "lte"],
    [{ name: "wwan1", wireless: false }, "lte"],
    [{ name: "bnep0", wireless: false }, "bt-pan"],
    [{ name: "eth0", wireless: false, driver: "e1000e" }, "ethernet"],
    [{ name: "enp3s0", wireless: false }, "ethernet"],
    [{ name: "lan0", wireless: false, driver: "igb" }, "other"],
    [{ name: "br0", wireless: false }, "other"],
  ] as const)("classifies %j as %s", (facts, cls) => {
    expect(classifyLink(facts)).toBe(cls);
  });
});

describe("sysfs facts read from a fixture tree by the live command", () => {
  it("finds drivers, wireless markers and sysctls", async () => {
    const root = fixture("sysfs/node");
    const r = await run(factsCommand(root), { allowFailure: true });
    const facts = parseFacts(r.stdout, root);
    const classes = Object.fromEntries(
      [...facts.links.values()].map((f) => [f.name, classifyLink(f)] as const),
    );
    expect(classes).toEqual({
      wlp2s0: "wifi",
      wlan1: "wifi",
      usb0: "usb-tether",
      enx0a1b2c3d4e5f: "usb-tether",
      usb1: "usb-tether",
      eth1: "usb-tether",
      wwan0: "lte",
      mbim0: "lte",
      hso0: "lte",
      eth0: "ethernet",
      lan0: "other",
    });
    expect(facts.links.get("eth0")?.driver).toBe("e1000e");
    expect(Object.fromEntries(facts.sysctls.map((s) => [s.name, s.value]))).toEqual({
      "net.ipv4.ip_forward": "1",
      "net.ipv6.conf.all.forwarding": "0",
      "net.ipv4.conf.all.rp_filter": "2",
      "net.ipv4.conf.wwan0.rp_filter": "1",
      "net.ipv4.conf.wwan0.ignore_routes_with_linkdown": "1",
      "net.ipv6.conf.wwan0.ignore_routes_with_linkdown": "0",
    });
  });
});

describe("u32 decoding", () => {
  const k = (value: number, mask: number, off: number, nexthdr = false) => ({ value, mask, off, nexthdr });
  it("names the fields tc's u32 syntax writes", () => {
    expect(
      decodeU32(
        [
          k(0x16, 0xffff, 20),
          k(0xb80000, 0xfc0000, 0),
          k(0x64400000, 0xffc00000, 12),
          k(0x110000, 0xff0000, 8),
          k(0x00350000, 0xffff0000, 20),
          k(0xc6336400, 0xffffff00, 16),
        ],
        "ip",
      ).map((m) => `${m.field} ${m.value}`),
    ).toEqual([
      "ip dport 22",
      "ip dsfield 0xb8/0xfc",
      "ip src 100.64.0.0/10",
      "ip protocol 17",
      "ip sport 53",
      "ip dst 198.51.100.0/24",
    ]);
  });
  it("keeps a partial mask and undecodable keys readable", () => {
    expect(decodeU32([k(0x1600, 0xff00, 20)], "ip")).toEqual([{ field: "ip dport", value: "5632/0xff00" }]);
    expect(decodeU32([k(0x16, 0xffff, 0, true)], "ip")).toEqual([
      { field: "u32 at 0 nexthdr", value: "0x00000016/0x0000ffff" },
    ]);
    expect(decodeU32([k(0x12345678, 0xf0f0f0f0, 12)], "ip")[0]?.field).toBe("u32 at 12");
  });
  it("joins the four words of an IPv6 prefix", () => {
    expect(
      decodeU32([k(0x20010db8, 0xffffffff, 8), k(0x00010000, 0xffff0000, 12), k(443, 0xffff, 40)], "ipv6"),
    ).toEqual([
      { field: "ip6 src", value: "2001:db8:1::/48" },
      { field: "ip6 dport", value: "443" },
    ]);
  });
});

describe("tc classes", () => {
  it("reads tc's text form with rates in bit/s and sizes in bytes", () => {
    expect(
      parseClassLine(
        "class htb 1:10 parent 1:1 leaf 10: prio 0 rate 5Mbit ceil 10Mbit burst 15Kb cburst 1600b ",
        "eth0",
      ),
    ).toEqual({
      kind: "class",
      dev: "eth0",
      classid: "1:10",
      parent: "1:1",
      classKind: "htb",
      options: { prio: 0, rate: 5_000_000, ceil: 10_000_000, burst: 15 * 1024, cburst: 1600 },
    });
    expect(tcValue("rate", "1.5Gbit")).toBe(1_500_000_000);
  });
  it("reads JSON classes too, telling the forms apart by the number of arrays", () => {
    const cmds = [
      { what: "class", dev: "eth0" },
      { what: "filter", dev: "eth0" },
    ] as const;
    const json = '[{"class":"htb","handle":"1:1","root":true,"options":{"rate":"10Mbit"}}]\n[]\n';
    const text = "class htb 1:1 root rate 10Mbit\n[]\n";
    const a = parseTree(splitBatchOutput(json), cmds).classes;
    const b = parseTree(splitBatchOutput(text), cmds).classes;
    expect(a).toEqual(b);
    expect(a[0]?.options).toEqual({ rate: 10_000_000 });
  });
});

describe("normalization of a captured lab node", () => {
  const s = parseObservation(labRaw);

  it("gives one canonical route form: prefixes, numeric tables and protocols, no local-table kernel routes", () => {
    expect(s.route.every((r) => r.dst.includes("/"))).toBe(true);
    expect(s.route.some((r) => r.table === 255 && r.protocol === 2)).toBe(false);
    expect(s.route).toContainEqual({
      kind: "route",
      family: 4,
      table: 103,
      type: "unicast",
      dst: "0.0.0.0/0",
      metric: 0,
      protocol: 3,
      scope: "global",
      nexthops: [
        { gateway: "198.51.100.1", dev: "eth0", weight: 2 },
        { gateway: "203.0.113.1", dev: "wwan0", weight: 1 },
      ],
    });
    expect(s.route).toContainEqual(expect.objectContaining({ table: 102, dst: "0.0.0.0/0", onlink: true }));
    expect(s.route.filter((r) => r.type === "blackhole").every((r) => r.dev === undefined)).toBe(true);
  });

  it("reads iproute2's names and its -N numbers to the same model", () => {
    const asSet = (xs: readonly object[]) => new Set(xs.map((x) => digest(x)));
    const namedRules = [
      ...parseRules(readJson("observe/lab-node.rules-named.json"), 4),
      ...parseRules(readJson("observe/lab-node.rules6-named.json"), 6),
    ];
    expect(asSet(namedRules)).toEqual(asSet(s.rule));
    expect(asSet(parseRoutes(readJson("observe/lab-node.routes-named.json")))).toEqual(asSet(s.route));
  });

  it("decodes every rule selector", () => {
    expect(s.rule).toContainEqual(
      expect.objectContaining({ priority: 1004, fwmark: 0x10, fwmask: 0xff, table: 105 }),
    );
    expect(s.rule).toContainEqual(
      expect.objectContaining({ priority: 1006, not: true, from: "100.64.0.0/10" }),
    );
    expect(s.rule).toContainEqual(
      expect.objectContaining({ priority: 900, suppressPrefixlength: 0, table: 254 }),
    );
    expect(s.rule).toContainEqual(
      expect.objectContaining({
        priority: 1100,
        tos: 16,
        ipproto: 6,
        sport: "1000-2000",
        dport: "443",
        uidrange: "100-200",
      }),
    );
    expect(s.rule.find((r) => r.priority === 1005)?.fwmask).toBeUndefined();
  });

  it("drops tc's kernel-made u32 hash tables and stats, keeps the rules decoded", () => {
    expect(
      s.filter.map((f) => [f.dev, f.parent, f.pref, f.matches.map((m) => `${m.field} ${m.value}`)]),
    ).toEqual([
      ["eth0", "1:", 1, ["ip dport 22"]],
      ["eth0", "1:", 2, ["ip dsfield 0xb8/0xfc"]],
      ["eth0", "1:", 3, ["ip src 100.64.0.0/10", "ip protocol 17"]],
      ["eth0", "1:", 10, ["ip6 src 2001:db8:1::/48", "ip6 dport 443"]],
      ["eth0", "ffff:", 5, ["ip sport 53"]],
    ]);
    expect(s.qdisc.find((q) => q.qdiscKind === "htb")?.options).toEqual({
      r2q: 10,
      default: "0x20",
      direct_qlen: 1000,
    });
  });

  it("keeps our nft table without handles or counter values", () => {
    const t = s["nft-table"][0];
    expect(t?.name).toBe("backhaul");
    expect(t?.body).not.toMatch(/handle|packets|bytes/);
    expect(JSON.parse(t?.body ?? "{}").chain.map((c: { name: string }) => c.name)).toEqual([
      "forward",
      "postrouting",
    ]);
  });

  it("reads our access point's settings from its files and its state and stations from its control socket", () => {
    expect(s.hostapd).toEqual([
      expect.objectContaining({
        iface: "wwan0",
        pid: 4242,
        state: "ENABLED",
        stations: 0,
        credentials: "current",
      }),
    ]);
    expect(ssidOf(s.hostapd[0]!.config)).toBe("backhaul-test");
    expect(securityOf(s.hostapd[0]!.config)).toBe("wpa2");
  });
});

describe("nft table", () => {
  it("is absent when the output holds no such table", () => {
    expect(parseNftTable({ nftables: [{ metainfo: {} }] }, "inet", "backhaul")).toBeUndefined();
    expect(parseNftTable("garbage", "inet", "backhaul")).toBeUndefined();
  });
  it("does not depend on handles or counter values", () => {
    const mk = (h: number, packets: number) => ({
      nftables: [
        { table: { family: "inet", name: "backhaul", handle: h } },
        { chain: { family: "inet", table: "backhaul", name: "c", handle: h + 1 } },
        {
          rule: {
            family: "inet",
            table: "backhaul",
            chain: "c",
            handle: h + 2,
            expr: [{ counter: { packets, bytes: packets * 60 } }],
          },
        },
      ],
    });
    expect(parseNftTable(mk(1, 0), "inet", "backhaul")).toEqual(parseNftTable(mk(7, 99), "inet", "backhaul"));
  });
});

describe("hostapd answers", () => {
  it("gives the interface state and the stations of the first BSS", () => {
    expect(parseHostapdStatus("> state=ENABLED\nssid[0]=x\nnum_sta[0]=3\n> ")).toEqual({
      state: "ENABLED",
      stations: 3,
    });
    expect(parseHostapdStatus("> state=COUNTRY_UPDATE\n")).toEqual({ state: "COUNTRY_UPDATE", stations: 0 });
  });
  it("is absent when hostapd did not answer", () => {
    expect(
      parseHostapdStatus("Failed to connect to hostapd - wpa_ctrl_open: No such file or directory\n"),
    ).toBeUndefined();
  });
});

describe("tc filters", () => {
  it("keep a u32 filter's actions and drop the kernel's placement, counters and references", () => {
    const raw = numberDuplicateMatches(
      JSON.stringify([
        { parent: "ffff:", protocol: "ip", pref: 5, kind: "u32", chain: 0 },
        {
          parent: "ffff:",
          protocol: "ip",
          pref: 5,
          kind: "u32",
          chain: 0,
          options: { fh: "800:", ht_divisor: 1 },
        },
        {
          parent: "ffff:",
          protocol: "ip",
          pref: 5,
          kind: "u32",
          chain: 0,
          options: {
            fh: "800::800",
            order: 2048,
            key_ht: "800",
            bkt: "0",
            not_in_hw: true,
            match: { value: "35", mask: "ffff", offmask: "", off: 20 },
            actions: [
              {
                order: 1,
                kind: "gact",
                control_action: { type: "drop" },
                prob: { random_type: "none" },
                index: 1,
                ref: 1,
                bind: 1,
              },
            ],
          },
        },
      ]),
    );
    expect(parseFilters(JSON.parse(raw), "eth0")).toEqual([
      {
        kind: "filter",
        dev: "eth0",
        parent: "ffff:",
        protocol: "ip",
        pref: 5,
        filterKind: "u32",
        handle: "800::800",
        matches: [{ field: "ip dport", value: "53" }],
        options: {
          "actions.0.order": 1,
          "actions.0.kind": "gact",
          "actions.0.control_action.type": "drop",
          "actions.0.prob.random_type": "none",
        },
      },
    ]);
  });
});

describe("sysctl names", () => {
  it("are written as sysctl(8) writes them: a dot inside an interface name becomes a slash", () => {
    const facts = parseFacts(
      "/proc/sys/net/ipv4/conf/eth0.100/rp_filter:2\n/proc/sys/net/ipv4/ip_forward:1\n",
    );
    expect(facts.sysctls.map((s) => [s.name, s.value])).toEqual([
      ["net.ipv4.conf.eth0/100.rp_filter", "2"],
      ["net.ipv4.ip_forward", "1"],
    ]);
  });
});
