import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // The CLI the tests start is the build of the sources, made first (test/global-setup.ts).
    globalSetup: ["test/global-setup.ts"],
    setupFiles: ["test/support/yield-between-tests.ts"],
    // Kernel tests create namespaces; they run in separate files and share nothing. Two files at once on
    // two cores: one at a time takes longer than the suite may.
    pool: "forks",
    maxWorkers: 2,
    minWorkers: 1,
    // Guards against a hang, not timing assertions.
    testTimeout: 180_000,
    hookTimeout: 180_000,
  },
});
