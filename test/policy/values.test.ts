// Single values that reach command lines, kernel paths and generated files: what is refused and why.
import { describe, expect, it } from "vitest";
import { statusSocketPath } from "../../src/daemon/status-server.js";
import {
  countryCodeProblem,
  interfaceGlobProblem,
  interfaceNameProblem,
  parseCidr,
  socketPathProblem,
  statePathProblem,
  UNIX_SOCKET_PATH_MAX,
} from "../../src/policy/values.js";

describe("values that reach the kernel and its tools", () => {
  it("refuses interface names ip would read as an option, and the kernel's all/default", () => {
    expect(interfaceNameProblem("-eth0")).toMatch(/starts with '-'/);
    expect(interfaceNameProblem("all")).toMatch(/conf\/all/);
    expect(interfaceNameProblem("default")).toMatch(/conf\/default/);
    expect(interfaceGlobProblem("-*")).toMatch(/starts with '-'/);
    for (const ok of ["eth0", "enx0a1b2c3d4e5f", "wwan-0", "all0", "defaults"])
      expect(interfaceNameProblem(ok)).toBeUndefined();
  });

  it("takes country codes ISO 3166-1 assigns, and says which to use for common mistakes", () => {
    for (const ok of ["DE", "GB", "US", "JP", "ZA", "AX", "SS"])
      expect(countryCodeProblem(ok)).toBeUndefined();
    expect(countryCodeProblem("UK")).toBe('"UK" is not an ISO 3166-1 country code (use GB)');
    expect(countryCodeProblem("XX")).toBe('"XX" is not an ISO 3166-1 country code');
    expect(countryCodeProblem("de")).toMatch(/two-letter country code in capitals/);
  });

  it("keeps state and sockets out of the root directory and the kernel's filesystems", () => {
    for (const bad of ["/", "//", "/proc", "/proc/backhaul", "/sys/x", "/dev/shm/backhaul"])
      expect(statePathProblem(bad), bad).toBeDefined();
    for (const ok of ["/var/lib/backhaul", "/run/backhaul-lab", "/procfs/x", "/devices"])
      expect(statePathProblem(ok), ok).toBeUndefined();
    expect(statePathProblem("relative/x")).toMatch(/not an absolute path/);
  });

  it("fits a socket path into sun_path, and names the namespace when its qualified path does not", () => {
    const at = (n: number) => `/run/${"a".repeat(n - "/run/.sock".length)}.sock`;
    expect(socketPathProblem(at(UNIX_SOCKET_PATH_MAX))).toBeUndefined();
    expect(socketPathProblem(at(UNIX_SOCKET_PATH_MAX + 1))).toMatch(/at most 107/);
    expect(statusSocketPath(at(90), "node")).toHaveLength(95);
    expect(() => statusSocketPath(at(100), "bhl1a2b3c-node")).toThrow(
      /status socket of namespace bhl1a2b3c-node.*longer than a Unix socket's path/,
    );
  });

  it("refuses prefix lengths with leading zeros", () => {
    expect(parseCidr("100.64.1.2/024")).toBeUndefined();
    expect(parseCidr("100.64.1.2/24")).toMatchObject({ prefix: 24 });
    expect(parseCidr("0.0.0.0/0")).toMatchObject({ prefix: 0 });
  });
});
