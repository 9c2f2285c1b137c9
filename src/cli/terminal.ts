// Text that reaches the reader's terminal can quote a policy file or a tool's output: control
// characters are shown escaped so they cannot move the cursor or recolor the terminal.

// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROLS = /[\u0000-\u001f\u007f-\u009f]/g;

export const visible = (s: string): string =>
  s.replace(CONTROLS, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
