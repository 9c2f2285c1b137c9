import { describe, expect, it } from "vitest";
import { applyByKey, ApplyModelError } from "../../../src/core/model-kernel/by-key.js";
import { emptyState, type Route } from "../../../src/kinds/types.js";

const r: Route = {
  kind: "route",
  family: 4,
  table: 100,
  type: "unicast",
  dst: "0.0.0.0/0",
  metric: 0,
  protocol: 99,
  scope: "global",
  gateway: "198.51.100.1",
  dev: "eth0",
};
const start = { ...emptyState(), route: [r] };

describe("applying ops to a state", () => {
  it("applies adds, changes and deletes by key", () => {
    const moved = { ...r, gateway: "203.0.113.1", dev: "wlan0" };
    expect(applyByKey(start, [{ op: "change", before: r, after: moved }]).route).toEqual([moved]);
    expect(applyByKey(start, [{ op: "delete", before: r }]).route).toEqual([]);
  });

  it("refuses an op that does not fit the state, naming its step", () => {
    expect(() =>
      applyByKey(start, [
        { op: "delete", before: r },
        { op: "delete", before: r },
      ]),
    ).toThrow(new ApplyModelError(1, "delete route 4 100 0.0.0.0/0 0: no such object"));
    expect(() => applyByKey(start, [{ op: "add", after: r }])).toThrow(
      /step 0: add route 4 100 0.0.0.0\/0 0: it already exists/,
    );
    expect(() => applyByKey(start, [{ op: "change", before: { ...r, dev: "eth1" }, after: r }])).toThrow(
      /differs from the op's before/,
    );
  });
});
