// IPv4 parsing and formatting take a fast path of plain arithmetic (plans render thousands of
// addresses): it must agree with ipaddr.js, the reference, on every address and prefix.
import fc from "fast-check";
import ipaddr from "ipaddr.js";
import { describe, expect, it } from "vitest";
import { formatAddress, formatPrefix, parseAddress, parsePrefix } from "../../src/util/prefix.js";

const octet = fc.integer({ min: 0, max: 255 });
const quad = fc.tuple(octet, octet, octet, octet).map((o) => o.join("."));

describe("IPv4 addresses and prefixes", () => {
  it("round-trip through their integer form exactly as ipaddr.js reads and prints them", () => {
    fc.assert(
      fc.property(quad, (text) => {
        const a = parseAddress(text);
        expect(a.family).toBe(4);
        expect(a.value).toBe(
          BigInt(
            ipaddr.IPv4.parse(text)
              .toByteArray()
              .reduce((n, b) => n * 256 + b, 0),
          ),
        );
        expect(formatAddress(4, a.value)).toBe(ipaddr.IPv4.parse(text).toString());
      }),
    );
  });

  it("refuse an octet above 255", () => {
    fc.assert(
      fc.property(
        quad,
        fc.integer({ min: 0, max: 3 }),
        fc.integer({ min: 256, max: 999 }),
        (text, i, big) => {
          const parts = text.split(".");
          parts[i] = String(big);
          expect(() => parseAddress(parts.join("."))).toThrow(/not an IP address/);
        },
      ),
    );
  });

  it("accept a prefix exactly when its host bits are zero", () => {
    fc.assert(
      fc.property(quad, fc.integer({ min: 0, max: 32 }), (addr, len) => {
        const text = `${addr}/${len}`;
        const network = ipaddr.IPv4.networkAddressFromCIDR(text).toString();
        if (network === addr) expect(formatPrefix(parsePrefix(text))).toBe(text);
        else expect(() => parsePrefix(text)).toThrow(/host bits are set/);
      }),
    );
  });
});
