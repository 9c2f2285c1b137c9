/** Exit codes of every verb (as `terraform plan -detailed-exitcode`). */
export const EXIT = {
  ok: 0,
  error: 1,
  /** Changes pending, or drift found. */
  changes: 2,
  /** apply/revert: a failed change could not be rolled back, or a revert failed; the journal or pending record is kept (docs/apply.md). */
  rollbackFailed: 3,
  /** apply: the change holds, but no uplink is usable: general traffic has no route. */
  noRoute: 4,
} as const;
