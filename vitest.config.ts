import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Kernel tests create namespaces; they run in separate files and share nothing. Most of their time
    // is waiting (on timers, daemons, the kernel), so more files run at once than there are cores
    // (vitest's default, cores - 1, would run them one by one on a two-core machine).
    pool: "forks",
    maxWorkers: 3,
    minWorkers: 1,
    // Guards against a hang, not timing assertions: files running beside each other slow each other.
    testTimeout: 180_000,
    hookTimeout: 180_000,
  },
});
