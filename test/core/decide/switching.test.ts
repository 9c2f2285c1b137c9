import { describe, expect, it } from "vitest";
import { fc } from "../../support/fc.js";
import { limitReason, switchCause, voluntary, withinWindow } from "../../../src/core/decide/switching.js";
import { select } from "../../../src/core/selection/select.js";
import type { Selection } from "../../../src/core/selection/types.js";
import { down, node, numRuns, PARAMS, up, UPLINKS } from "../../support/plan-fixtures.js";

const selection = (
  health: Parameters<typeof select>[0]["health"],
  over: { carrier?: Record<string, boolean> } = {},
) => select({ uplinks: UPLINKS, observed: node(over), health, usage: {}, params: PARAMS, families: [4] });

const all = selection({ eth0: up(), wlan0: up(), wwan0: up() });
const noEth = selection({ eth0: down("probes failing"), wlan0: up(), wwan0: up() });
const noEthCarrier = selection({ eth0: down(), wlan0: up(), wwan0: up() }, { carrier: { eth0: false } });
const none = selection({ eth0: down(), wlan0: down(), wwan0: down() });

describe("the switch limit", () => {
  const limit = { switches: 3, windowMs: 60_000 };
  it("lets switches through until the window holds the limit, then says when the next may happen", () => {
    expect(limitReason([0, 10_000], 20_000, limit)).toBeUndefined();
    expect(limitReason([0, 10_000, 15_000], 20_000, limit)).toBe(
      "switch limit reached (3 switches within 60s); the next voluntary switch may happen in 40s",
    );
    expect(limitReason([0, 10_000, 15_000], 60_000, limit)).toBeUndefined();
  });
  it("property: following the limit never puts more than N switches in any window", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 20_000 }), { maxLength: 200 }),
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 1_000, max: 100_000 }),
        (gaps, switches, windowMs) => {
          const l = { switches, windowMs };
          let now = 0;
          let taken: number[] = [];
          for (const g of gaps) {
            now += g;
            if (limitReason(taken, now, l) === undefined) taken = [...withinWindow(taken, now, l), now];
          }
          // Every window of length windowMs holds at most `switches` of the switches taken.
          const all = taken;
          return all.every((t) => all.filter((u) => u >= t && u - t < windowMs).length <= switches);
        },
      ),
      { numRuns: Math.min(numRuns, 500) },
    );
  });
  it("only limits voluntary switches: the previous uplink must still be usable", () => {
    expect(voluntary(noEth, all)).toBe(true);
    expect(voluntary(all, noEth)).toBe(false);
    expect(voluntary(undefined, all)).toBe(false);
  });
});

describe("why the active uplink changed", () => {
  const facts = { policyChanged: false, physicallyLost: new Set<string>() };
  const active = (s: Selection | undefined) => (s?.active ?? []).map((a) => a.name);
  const cause = (prev: Selection | undefined, next: Selection, lost: string[] = []) =>
    switchCause(active(prev), active(next), next, prev, { ...facts, physicallyLost: new Set(lost) });
  it("names each cause", () => {
    expect(cause(undefined, all)).toBe("start");
    expect(cause(all, noEthCarrier, ["eth0"])).toBe("physical");
    expect(cause(all, noEth)).toBe("health");
    expect(cause(noEth, all)).toBe("preference");
    expect(cause(all, none)).toBe("none-usable");
    expect(switchCause(["eth0"], ["wlan0"], noEth, all, { ...facts, policyChanged: true })).toBe("policy");
    // After a pass that found nothing usable (keep-last), the kernel still routes through eth0.
    expect(
      switchCause(["eth0"], ["wlan0"], noEthCarrier, none, { ...facts, physicallyLost: new Set(["eth0"]) }),
    ).toBe("physical");
    // Still usable, but its probes got worse: health, not preference.
    const lossy = selection({ eth0: up(20, 9, 0.9), wlan0: up(), wwan0: up() });
    expect(lossy.active[0]?.name).toBe("wlan0");
    expect(cause(all, lossy)).toBe("health");
  });
  it("calls a usable uplink's demotion to the fallback tier a budget switch", () => {
    const spent = select({
      uplinks: UPLINKS,
      observed: node(),
      health: { eth0: up(), wlan0: up(), wwan0: up() },
      usage: { eth0: { usedBytes: 10, budgetBytes: 5, exhausted: true } },
      params: PARAMS,
      families: [4],
    });
    const metered = UPLINKS.map((u) => (u.name === "eth0" ? { ...u, metered: true } : u));
    const spentEth = select({
      uplinks: metered,
      observed: node(),
      health: { eth0: up(), wlan0: up(), wwan0: up() },
      usage: { eth0: { usedBytes: 10, budgetBytes: 5, exhausted: true } },
      params: PARAMS,
      families: [4],
    });
    expect(spent.active[0]?.name).toBe("eth0");
    expect(spentEth.active[0]?.name).toBe("wlan0");
    expect(cause(all, spentEth)).toBe("budget");
  });
});
