import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Kernel tests create namespaces; they run in separate files and share nothing, but two cores limit us.
    pool: "forks",
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
