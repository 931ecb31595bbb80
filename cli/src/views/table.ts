// Tables the way kubectl prints them: upper-case headers, columns as wide as their widest cell, three
// spaces between columns, no trailing spaces, and <none> for an empty list.
import { visibleLength } from './colour.js';

export function renderTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  if (rows.length === 0) return '';
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => visibleLength(r[i] ?? ''))));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c + ' '.repeat(widths[i]! - visibleLength(c))))
      .join('   ')
      .trimEnd();
  return `${[line(headers.map((h) => h.toUpperCase())), ...rows.map(line)].join('\n')}\n`;
}

/** `key:  value` lines, keys padded to the longest (kubectl describe style). */
export function renderFields(fields: readonly (readonly [string, string | undefined])[], indent = ''): string {
  const shown = fields.filter(([, v]) => v !== undefined && v !== '');
  const width = Math.max(0, ...shown.map(([k]) => k.length + 1));
  return shown.map(([k, v]) => `${indent}${`${k}:`.padEnd(width)}  ${v}\n`).join('');
}
