import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Kernel tests create namespaces; they run in separate files and share nothing. One file at a time
    // on two cores (vitest's default, cores - 1): with two at once, the failover test's carrier loss
    // was taken by a full pass rather than the fast path, in a clean-clone CI with no outside load.
    pool: "forks",
    // Guards against a hang, not timing assertions.
    testTimeout: 180_000,
    hookTimeout: 180_000,
  },
});
