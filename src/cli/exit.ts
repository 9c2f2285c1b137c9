/** Exit codes of every verb (as `terraform plan -detailed-exitcode`). */
export const EXIT = {
  ok: 0,
  error: 1,
  /** Changes pending, or drift found. */
  changes: 2,
} as const;
