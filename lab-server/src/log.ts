// Structured logs with pino: JSON for machines, pretty on a terminal. Context goes in fields.
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(options: { level: string; pretty: boolean }): Logger {
  if (!options.pretty) return pino({ level: options.level });

  return pino({
    level: options.level,
    transport: { target: 'pino-pretty', options: { colorize: true, ignore: 'pid,hostname' } },
  });
}
