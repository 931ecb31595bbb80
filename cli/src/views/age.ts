// Ages as kubectl prints them: 45s, 5m, 2h, 3d, 2y; `<unknown>` without a time. Relative to `now`.

export function age(time: string | Date | undefined, now: Date = new Date()): string {
  if (time === undefined) return '<unknown>';
  const t = typeof time === 'string' ? Date.parse(time) : time.getTime();
  if (Number.isNaN(t)) return '<unknown>';
  return duration(now.getTime() - t);
}

/** A duration in the largest whole unit: 0s, 59s, 5m, 2h, 3d, 1y; negative durations as `in 5m`. */
export function duration(ms: number): string {
  if (ms < 0) return `in ${duration(-ms)}`;
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h`;
  const d = Math.floor(h / 24);
  if (d < 730) return `${d}d`;
  return `${Math.floor(d / 365)}y`;
}
