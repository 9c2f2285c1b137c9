import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Kernel tests create namespaces; they run in separate files and share nothing. Two files at once
    // on two cores: one at a time (vitest's default there, cores - 1) took over ten minutes, most of
    // it waiting on timers and daemons; three or four at once made timing-sensitive kernel tests
    // (confirm deadlines, the fast path) fail under outside load.
    pool: "forks",
    maxWorkers: 2,
    minWorkers: 1,
    // Guards against a hang, not timing assertions: two files at once slow each other.
    testTimeout: 180_000,
    hookTimeout: 180_000,
  },
});
