// Property-test run counts: FC_NUM_RUNS (default 1,000); `npm run verify:deep` runs 100 times more.
import fc from "fast-check";

fc.configureGlobal({ numRuns: Number(process.env.FC_NUM_RUNS ?? 1000) });

export { fc };
