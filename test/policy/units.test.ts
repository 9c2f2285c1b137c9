import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  formatDuration,
  formatRate,
  formatSize,
  parseDuration,
  parsePercent,
  parseRate,
  parseSize,
  UnitError,
} from "../../src/util/units.js";

describe("durations", () => {
  it.each([
    ["250ms", 250],
    ["5s", 5000],
    ["1m", 60_000],
    ["1h30m", 5_400_000],
    ["1.5s", 1500],
    ["2d", 172_800_000],
    ["1h0m5s", 3_605_000],
    ["1s500ms", 1500],
    ["0s", 0],
    [" 10S ", 10_000],
  ])("%s is %d ms", (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each([
    ["5", /no unit/],
    ["", /empty/],
    ["5sec", /not understood/],
    ["30m1h", /larger to smaller/],
    ["1s1s", /larger to smaller/],
    ["0.5ms", /whole number of milliseconds/],
    ["-5s", /not understood/],
    ["99999999999999999d", /too large/],
  ])("refuses %j with a clear message", (text, message) => {
    expect(() => parseDuration(text)).toThrow(message);
  });

  it("refuses numbers, asking for a unit", () => {
    expect(() => parseDuration(5)).toThrow(UnitError);
    expect(() => parseDuration(5)).toThrow(/such as 250ms/);
  });

  it("formats to the shortest form", () => {
    expect(formatDuration(5_400_000)).toBe("1h30m");
    expect(formatDuration(250)).toBe("250ms");
    expect(formatDuration(0)).toBe("0s");
    expect(formatDuration(86_400_000 + 1)).toBe("1d1ms");
  });

  it("format then parse gives the same milliseconds", () => {
    fc.assert(fc.property(fc.nat({ max: 2 ** 45 }), (ms) => parseDuration(formatDuration(ms)) === ms));
  });

  it("is monotonic in its number for every unit", () => {
    fc.assert(
      fc.property(
        fc.nat(100_000),
        fc.nat(100_000),
        fc.constantFrom("ms", "s", "m", "h", "d"),
        (a, b, unit) => {
          const [x, y] = [parseDuration(`${a}${unit}`), parseDuration(`${b}${unit}`)];
          return Math.sign(x - y) === Math.sign(a - b);
        },
      ),
    );
  });
});

describe("rates (tc units)", () => {
  it.each([
    ["10mbit", 10_000_000],
    ["512kbit", 512_000],
    ["1gbit", 1_000_000_000],
    ["1500bit", 1500],
    ["1kibit", 1024],
    ["100kbps", 800_000],
    ["1mibps", 8 * 1024 * 1024],
    ["2.5Mbit", 2_500_000],
  ])("%s is %d bit/s", (text, bps) => {
    expect(parseRate(text)).toBe(bps);
  });

  it.each([
    ["10", /no unit/],
    ["10mb", /unknown unit "mb"/],
    ["fast", /not understood/],
    ["0.5bit", /whole number/],
  ])("refuses %j", (text, message) => {
    expect(() => parseRate(text)).toThrow(message);
  });

  it("format then parse gives the same rate", () => {
    fc.assert(fc.property(fc.nat({ max: 2 ** 50 }), (bps) => parseRate(formatRate(bps)) === bps));
    expect(formatRate(10_000_000)).toBe("10mbit");
    expect(formatRate(1500)).toBe("1500bit");
  });

  it("orders rates as their bit/s do, across units", () => {
    const units = ["bit", "kbit", "mbit", "kibit", "bps", "kbps"];
    fc.assert(
      fc.property(
        fc.nat(10_000),
        fc.constantFrom(...units),
        fc.nat(10_000),
        fc.constantFrom(...units),
        (a, u, b, v) => {
          const [x, y] = [parseRate(`${a}${u}`), parseRate(`${b}${v}`)];
          return x <= y === parseRate(formatRate(x)) <= parseRate(formatRate(y));
        },
      ),
    );
  });
});

describe("sizes", () => {
  it.each([
    ["2GiB", 2 * 1024 ** 3],
    ["500MB", 500_000_000],
    ["1024B", 1024],
    ["1.5KiB", 1536],
    ["20gib", 20 * 1024 ** 3],
  ])("%s is %d bytes", (text, bytes) => {
    expect(parseSize(text)).toBe(bytes);
  });

  it.each([
    ["2", /no unit/],
    ["2GiG", /unknown unit "GiG"/],
    ["0.3B", /whole number of bytes/],
  ])("refuses %j", (text, message) => {
    expect(() => parseSize(text)).toThrow(message);
  });

  it("format then parse gives the same size; formatting prefers the largest exact unit", () => {
    fc.assert(fc.property(fc.nat({ max: 2 ** 52 }), (b) => parseSize(formatSize(b)) === b));
    expect(formatSize(2 * 1024 ** 3)).toBe("2GiB");
    expect(formatSize(500_000_000)).toBe("500MB");
  });

  it("is monotonic in its number", () => {
    fc.assert(
      fc.property(
        fc.nat(1_000_000),
        fc.nat(1_000_000),
        fc.constantFrom("B", "KB", "MiB", "GiB"),
        (a, b, u) => {
          return Math.sign(parseSize(`${a}${u}`) - parseSize(`${b}${u}`)) === Math.sign(a - b);
        },
      ),
    );
  });
});

describe("percentages", () => {
  it("reads 10% and 2.5%, refuses more than 100% and a missing sign", () => {
    expect(parsePercent("10%")).toBe(10);
    expect(parsePercent("2.5%")).toBe(2.5);
    expect(() => parsePercent("150%")).toThrow(/above 100%/);
    expect(() => parsePercent("10")).toThrow(/not understood/);
  });
});
