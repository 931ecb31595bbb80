// JSON logs through winston. Every component takes a child of the root logger so each line says who
// wrote it; reconcilers take a child per reconcile with the object's key.
import { createWriteStream } from 'node:fs';
import winston from 'winston';

export type Logger = winston.Logger;

const level = process.env.CHRYSALIS_LOG_LEVEL ?? 'info';

export const rootLogger: Logger = winston.createLogger({
  level,
  format: winston.format.combine(winston.format.timestamp(), winston.format.json()),
  defaultMeta: { app: 'chrysalis' },
  transports: [new winston.transports.Console({ stderrLevels: ['error', 'warn', 'info', 'debug', 'verbose', 'silly'] })],
});

/**
 * Sends every log line to the file at `path` (appended) instead of stderr, for a command whose screen is
 * for a person (`chrysalis demo`). The returned function flushes the file and puts stderr back.
 */
export function sendLogsToFile(path: string): () => Promise<void> {
  const file = createWriteStream(path, { flags: 'a', mode: 0o600 });
  const transport = new winston.transports.Stream({ stream: file });
  const previous = rootLogger.transports.slice();
  rootLogger.clear().add(transport);
  return async () => {
    rootLogger.remove(transport);
    for (const t of previous) rootLogger.add(t);
    await new Promise<void>((resolve) => file.end(resolve));
  };
}

/** A child logger tagged with the component that writes through it. */
export function componentLogger(component: string, meta: Record<string, unknown> = {}): Logger {
  return rootLogger.child({ component, ...meta });
}

/** A logger that drops everything: for pure code under test and quiet CLI paths. */
export function silentLogger(): Logger {
  return winston.createLogger({ silent: true });
}
