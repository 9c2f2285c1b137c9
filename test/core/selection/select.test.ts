import { describe, expect, it } from "vitest";
import fc from "fast-check";
import {
  select,
  toPrevious,
  weightsFromScores,
  type SelectionInput,
} from "../../../src/core/selection/select.js";
import { scoreUplink } from "../../../src/core/selection/score.js";
import { assumedHealth } from "../../../src/core/selection/assume.js";
import type { Health, Usage } from "../../../src/core/selection/types.js";
import {
  addr,
  down,
  link,
  mainDefault,
  node,
  numRuns,
  PARAMS,
  T0,
  up,
  uplink,
  UPLINKS,
} from "../../support/plan-fixtures.js";

const input = (over: Partial<SelectionInput> = {}): SelectionInput => ({
  uplinks: UPLINKS,
  observed: node(),
  health: { eth0: up(), wlan0: up(), wwan0: up() },
  usage: {},
  params: PARAMS,
  families: [4],
  ...over,
});

describe("scoring", () => {
  it("weights latency, loss and success and adds the kind's bias", () => {
    const s = scoreUplink(
      uplink("eth0", "ethernet"),
      { state: "up", since: 0, rttMs: 50, lossPct: 5, successRate: 0.9 },
      PARAMS,
    );
    expect(s).toEqual({ latency: 225, loss: 100, success: 450, bias: 100, total: 875 });
  });
  it("gives nothing for RTT or loss at or beyond their maximum", () => {
    const s = scoreUplink(
      uplink("x", "lte"),
      { state: "up", since: 0, rttMs: 400, lossPct: 30, successRate: 0 },
      PARAMS,
    );
    expect(s.total).toBe(60);
  });
  it("lets the policy override the kind's bias and scale all biases", () => {
    const s = scoreUplink(uplink("x", "lte", { bias: 10 }), up(), { ...PARAMS, biasMultiplier: 2 });
    expect(s.bias).toBe(20);
  });
});

describe("failover selection", () => {
  it("prefers the wired uplink when health is equal", () => {
    const s = select(input());
    expect(s.active).toEqual([{ name: "eth0", weight: 1 }]);
    expect(s.reason).toBe("eth0 chosen: best score 1070");
  });

  it("explains a switch away from an uplink that lost carrier", () => {
    const s = select(
      input({
        observed: node({ carrier: { eth0: false } }),
        health: { eth0: down(), wlan0: up(), wwan0: up() },
        previous: { active: [{ name: "eth0", weight: 1, score: 1090 }], usable: ["eth0", "wlan0", "wwan0"] },
      }),
    );
    expect(s.active[0]!.name).toBe("wlan0");
    expect(s.switched).toBe(true);
    expect(s.reason).toBe("wlan0 chosen: eth0 down since 12:03:41, carrier lost");
  });

  it("keeps the active uplink when a better one does not beat it by the switch margin", () => {
    const prev = { active: [{ name: "wlan0", weight: 1, score: 1070 }], usable: ["eth0", "wlan0", "wwan0"] };
    // eth0 1070 vs wlan0 1050: 20 points, margin 50.
    const s = select(input({ previous: prev }));
    expect(s.active[0]!.name).toBe("wlan0");
    expect(s.switched).toBe(false);
    expect(s.reason).toBe(
      "wlan0 kept: eth0 scores 1070, not better than wlan0's 1050 by the switch margin 50",
    );
  });

  it("switches once the better uplink beats the active one by the margin", () => {
    const prev = { active: [{ name: "wlan0", weight: 1, score: 1000 }], usable: ["eth0", "wlan0", "wwan0"] };
    const s = select(input({ previous: prev, health: { eth0: up(), wlan0: up(80), wwan0: up() } }));
    expect(s.active[0]!.name).toBe("eth0");
    expect(s.reason).toMatch(
      /^eth0 chosen: eth0 scores 1070, beats wlan0's 960 by at least the switch margin 50$/,
    );
  });

  it("keeps a usable uplink down to the fail threshold but readmits it only at the recover threshold", () => {
    // success 0.4 → 200 + latency 270 + loss 200 + bias 60 = 730; with successRate 0 → 530 (between 500 and 600).
    const h: Health = {
      state: "degraded",
      since: T0,
      rttMs: 20,
      lossPct: 0,
      successRate: 0,
      reason: "slow probes",
    };
    const only = [uplink("wwan0", "lte")];
    const wasUsable = select(
      input({ uplinks: only, health: { wwan0: h }, previous: { active: [], usable: ["wwan0"] } }),
    );
    expect(wasUsable.verdicts[0]!.usable).toBe(true);
    const wasNot = select(
      input({ uplinks: only, health: { wwan0: h }, previous: { active: [], usable: [] } }),
    );
    expect(wasNot.verdicts[0]!.usable).toBe(false);
    expect(wasNot.verdicts[0]!.reason).toBe(
      "degraded since 12:03:41, slow probes; score 530 below the recover threshold 600",
    );
  });

  it("never uses a probing uplink or one without a probe result", () => {
    const s = select(input({ health: { eth0: { state: "probing", since: T0 } } }));
    expect(s.active).toEqual([]);
    expect(s.verdicts.map((v) => v.reason)).toEqual([
      "probing since 12:03:41, not yet verified",
      "no probe result yet",
      "no probe result yet",
    ]);
  });

  it("uses an emergency-only uplink only when nothing else is usable", () => {
    const uplinks = [
      uplink("eth0", "ethernet"),
      uplink("wwan0", "lte", { use: "emergency-only", bias: 500 }),
    ];
    const both = select(input({ uplinks, health: { eth0: up(), wwan0: up() } }));
    expect(both.active[0]!.name).toBe("eth0");
    const alone = select(
      input({ uplinks, observed: node({ carrier: { eth0: false } }), health: { eth0: down(), wwan0: up() } }),
    );
    expect(alone.active[0]!.name).toBe("wwan0");
    expect(alone.reason).toBe(
      "wwan0 chosen as fallback (wwan0: score 1470, emergency-only): best score 1470; eth0 down since 12:03:41, carrier lost",
    );
  });

  it("returns to a primary uplink as soon as one is usable, whatever the margin", () => {
    const uplinks = [
      uplink("eth0", "ethernet"),
      uplink("wwan0", "lte", { use: "emergency-only", bias: 500 }),
    ];
    const s = select(
      input({
        uplinks,
        health: { eth0: up(), wwan0: up() },
        previous: { active: [{ name: "wwan0", weight: 1, score: 1470 }], usable: ["eth0", "wwan0"] },
      }),
    );
    expect(s.active[0]!.name).toBe("eth0");
    expect(s.reason).toBe(
      "eth0 chosen: wwan0 is a fallback (score 1470, emergency-only) and a primary uplink is usable",
    );
  });

  it("treats a metered uplink over its budget as a fallback", () => {
    const uplinks = [uplink("wwan0", "lte", { metered: true, bias: 900 }), uplink("wlan0", "wifi")];
    const usage: Record<string, Usage> = {
      wwan0: { usedBytes: 2 * 1024 ** 3, budgetBytes: 2 * 1024 ** 3, exhausted: false },
    };
    const s = select(input({ uplinks, usage, health: { wwan0: up(), wlan0: up() } }));
    expect(s.active[0]!.name).toBe("wlan0");
    expect(s.verdicts[0]!.tier).toBe("fallback");
    expect(s.verdicts[0]!.reason).toBe("score 1870, over its data budget (2.0 GiB of 2.0 GiB)");
    const alone = select(
      input({ uplinks, usage, health: { wwan0: up(), wlan0: down("3 probes timed out") } }),
    );
    expect(alone.active[0]!.name).toBe("wwan0");
  });

  it("onExhausted never: a spent metered uplink is not used even when nothing else is usable", () => {
    const uplinks = [
      uplink("wwan0", "lte", { metered: true, onExhausted: "never", bias: 900 }),
      uplink("wlan0", "wifi"),
    ];
    const usage = { wwan0: { usedBytes: 5 * 1024 ** 2, budgetBytes: 4 * 1024 ** 2, exhausted: true } };
    const s = select(input({ uplinks, usage, health: { wwan0: up(), wlan0: down("3 probes timed out") } }));
    expect(s.active).toEqual([]);
    expect(s.verdicts[0]!.usable).toBe(false);
    expect(s.verdicts[0]!.reason).toContain("not used until its next period");
  });

  it("onExhausted keep: a spent metered uplink stays primary and says so", () => {
    const uplinks = [
      uplink("wwan0", "lte", { metered: true, onExhausted: "keep", bias: 900 }),
      uplink("wlan0", "wifi"),
    ];
    const usage = { wwan0: { usedBytes: 5 * 1024 ** 2, budgetBytes: 4 * 1024 ** 2, exhausted: true } };
    const s = select(input({ uplinks, usage, health: { wwan0: up(), wlan0: up() } }));
    expect(s.active[0]!.name).toBe("wwan0");
    expect(s.verdicts[0]!.tier).toBe("primary");
    expect(s.verdicts[0]!.reason).toContain("kept in use");
  });

  it("leaves an active metered uplink once it goes over budget and another primary is usable", () => {
    const uplinks = [uplink("wwan0", "lte", { metered: true, bias: 900 }), uplink("wlan0", "wifi")];
    const previous = { active: [{ name: "wwan0", weight: 1, score: 1870 }], usable: ["wwan0", "wlan0"] };
    const usage = { wwan0: { usedBytes: 5 * 1024 ** 2, budgetBytes: 4 * 1024 ** 2, exhausted: true } };
    const s = select(input({ uplinks, usage, previous, health: { wwan0: up(), wlan0: up() } }));
    expect(s.active[0]!.name).toBe("wlan0");
    expect(s.reason).toBe(
      "wlan0 chosen: wwan0 is a fallback (score 1870, over its data budget (5.0 MiB of 4.0 MiB)) and a primary uplink is usable",
    );
  });

  it("never uses an uplink the policy marks use never", () => {
    const s = select(input({ uplinks: [uplink("eth0", "ethernet", { use: "never" })] }));
    expect(s.active).toEqual([]);
    expect(s.verdicts[0]).toMatchObject({
      attached: false,
      usable: false,
      reason: "not used (policy: use never)",
    });
  });

  it("reports the policy's choice when nothing is usable", () => {
    const health = { eth0: down(), wlan0: down("3 probes timed out"), wwan0: down("no signal") };
    const keep = select(input({ health }));
    expect(keep.noneUsable).toBe("keep-last");
    expect(keep.reason).toBe(
      "no usable uplink (eth0 down since 12:03:41, carrier lost; wlan0 down since 12:03:41, 3 probes timed out; " +
        "wwan0 down since 12:03:41, no signal): keeping the last default route",
    );
    const withdraw = select(input({ health, params: { ...PARAMS, whenNoneUsable: "withdraw" } }));
    expect(withdraw.reason).toMatch(/: withdrawing the default route$/);
  });

  it("keeps an uplink with only an IPv6 path attached but out of general IPv4 traffic", () => {
    const s = node();
    const observed = {
      ...s,
      address: [...s.address.filter((a) => a.dev !== "usb0"), addr("usb0", "2001:db8:9::2/64", 6)],
      link: [...s.link, link("usb0", "usb-tether", true, 9)],
      route: [...s.route, mainDefault("usb0", "fe80::1", 1024, 6)],
    };
    const sel = select(
      input({ observed, uplinks: [uplink("usb0", "usb-tether")], health: { usb0: up() }, families: [4, 6] }),
    );
    expect(sel.verdicts[0]).toMatchObject({
      attached: true,
      usable: false,
      reason: "no IPv4 path (no global IPv4 address on usb0)",
    });
  });

  it("refuses a recover threshold below the fail threshold", () => {
    expect(() => select(input({ params: { ...PARAMS, recoverThreshold: 100 } }))).toThrow(
      /recover threshold/,
    );
  });
});

describe("assumed health for offline previews", () => {
  it("makes an assumed-up uplink usable and an assumed-down one not, with the assumption in the reason", () => {
    const s = select(input({ health: { eth0: assumedHealth("down", T0), wlan0: assumedHealth("up", T0) } }));
    expect(s.active[0]!.name).toBe("wlan0");
    expect(s.verdicts[0]!.reason).toBe("down since 12:03:41, assumed");
    expect(s.verdicts[1]!.score!.total).toBe(1080);
  });
});

describe("balance selection", () => {
  const balance = { ...PARAMS, strategy: "balance" as const };
  it("spreads traffic over every usable primary uplink with weights from scores", () => {
    const s = select(input({ params: balance, health: { eth0: up(), wlan0: up(100), wwan0: down() } }));
    expect(s.active).toEqual([
      { name: "eth0", weight: 256 },
      { name: "wlan0", weight: 223 },
    ]);
  });
  it("keeps the previous weights while no score moves by the margin", () => {
    const previous = {
      active: [
        { name: "eth0", weight: 200, score: 1080 },
        { name: "wlan0", weight: 100, score: 1060 },
      ],
      usable: ["eth0", "wlan0"],
    };
    const s = select(
      input({ params: balance, previous, health: { eth0: up(), wlan0: up(), wwan0: down() } }),
    );
    expect(s.active).toEqual([
      { name: "eth0", weight: 200 },
      { name: "wlan0", weight: 100 },
    ]);
  });
  it("keeps weights in the kernel's 1..256 range", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: -100, max: 5000 }), { minLength: 1, maxLength: 8 }),
        (scores) => {
          for (const w of weightsFromScores(scores))
            expect(w >= 1 && w <= 256 && Number.isInteger(w)).toBe(true);
        },
      ),
      { numRuns },
    );
  });
});

describe("selection properties", () => {
  const healthArb = fc.oneof(
    fc.record({
      state: fc.constantFrom("up" as const, "degraded" as const),
      since: fc.constant(T0),
      rttMs: fc.integer({ min: 0, max: 400 }),
      lossPct: fc.integer({ min: 0, max: 20 }),
      successRate: fc.double({ min: 0, max: 1, noNaN: true }),
    }),
    fc.constant(down()),
    fc.constant<Health>({ state: "probing", since: T0 }),
  );
  const uses = fc.constantFrom("normal" as const, "emergency-only" as const, "never" as const);
  const arb = fc.record({
    health: fc.tuple(healthArb, healthArb, healthArb),
    uses: fc.tuple(uses, uses, uses),
    exhausted: fc.boolean(),
    prevActive: fc.constantFrom(undefined, "eth0", "wlan0", "wwan0"),
    strategy: fc.constantFrom("failover" as const, "balance" as const),
  });

  it("never activates a use-never uplink, nor a fallback while a primary is usable; failover has at most one active", () => {
    fc.assert(
      fc.property(arb, (a) => {
        const uplinks = UPLINKS.map((u, i) => ({ ...u, use: a.uses[i]! }));
        const names = uplinks.map((u) => u.name);
        const s = select(
          input({
            uplinks,
            health: Object.fromEntries(names.map((n, i) => [n, a.health[i]!])),
            usage: { wwan0: { usedBytes: 0, exhausted: a.exhausted } },
            params: { ...PARAMS, strategy: a.strategy },
            previous:
              a.prevActive === undefined
                ? undefined
                : { active: [{ name: a.prevActive, weight: 1, score: 900 }], usable: names },
          }),
        );
        const verdict = new Map(s.verdicts.map((v) => [v.name, v]));
        const primaryUsable = s.verdicts.some((v) => v.usable && v.tier === "primary");
        for (const act of s.active) {
          const v = verdict.get(act.name)!;
          expect(v.usable).toBe(true);
          expect(uplinks.find((u) => u.name === act.name)!.use).not.toBe("never");
          if (primaryUsable) expect(v.tier).toBe("primary");
        }
        if (a.strategy === "failover") expect(s.active.length).toBeLessThanOrEqual(1);
        expect(s.active.length === 0).toBe(!s.verdicts.some((v) => v.usable));
        expect(s.reason.length).toBeGreaterThan(0);
        // Deciding again from its own outcome with the same health keeps the decision (no oscillation).
        const again = select(
          input({
            uplinks,
            health: Object.fromEntries(names.map((n, i) => [n, a.health[i]!])),
            usage: { wwan0: { usedBytes: 0, exhausted: a.exhausted } },
            params: { ...PARAMS, strategy: a.strategy },
            previous: toPrevious(s),
          }),
        );
        expect(again.active).toEqual(s.active);
      }),
      { numRuns },
    );
  });
});

describe("holding the active uplink (the daemon's switch limit)", () => {
  const hold = "switch limit reached";
  it("keeps a usable previous uplink although a better one beats it by the margin", () => {
    const slowWlan = { eth0: up(), wlan0: up(150, 5), wwan0: up(150, 5) };
    const prev = toPrevious(select(input({ health: { ...slowWlan, eth0: down() } })));
    expect(prev.active[0]?.name).toBe("wlan0");
    const free = select(input({ previous: prev, health: slowWlan }));
    expect(free.active[0]?.name).toBe("eth0");
    const held = select(input({ previous: prev, health: slowWlan, holdActive: hold }));
    expect(held.active).toEqual([{ name: "wlan0", weight: 1 }]);
    expect(held.switched).toBe(false);
    expect(held.reason).toBe(`wlan0 kept: ${hold}`);
  });
  it("never holds traffic on an uplink that is no longer usable", () => {
    const prev = toPrevious(select(input()));
    const s = select(
      input({ previous: prev, holdActive: hold, health: { eth0: down(), wlan0: up(), wwan0: up() } }),
    );
    expect(s.active[0]?.name).toBe("wlan0");
  });
  it("balance keeps the previous set and weights while all of it is usable", () => {
    const params = { ...PARAMS, strategy: "balance" as const };
    const prev = toPrevious(select(input({ params, health: { eth0: down(), wlan0: up(), wwan0: up() } })));
    const held = select(input({ params, previous: prev, holdActive: hold }));
    expect(held.active).toEqual(prev.active.map(({ name, weight }) => ({ name, weight })));
    expect(held.ranked).toContain("eth0");
  });
});
