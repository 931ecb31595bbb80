// Colour for people, never for pipes: every helper is the identity unless stdout is a TTY and NO_COLOR
// is unset (https://no-color.org). Decided once per process.
const enabled = Boolean(process.stdout.isTTY) && process.env.NO_COLOR === undefined;

function wrap(open: number, close: number): (text: string) => string {
  return (text) => (enabled ? `\u001b[${open}m${text}\u001b[${close}m` : text);
}

export const colour = {
  enabled,
  red: wrap(31, 39),
  green: wrap(32, 39),
  yellow: wrap(33, 39),
  dim: wrap(2, 22),
  bold: wrap(1, 22),
};

/** Strips ANSI colour codes (for measuring column widths). */
export function visibleLength(text: string): number {
  // eslint-disable-next-line no-control-regex
  return text.replace(/\u001b\[[0-9;]*m/g, '').length;
}

/** Green for a good value, red for a bad one, plain otherwise. */
export function health(text: string, good: boolean | undefined): string {
  if (good === undefined) return text;
  return good ? colour.green(text) : colour.red(text);
}
