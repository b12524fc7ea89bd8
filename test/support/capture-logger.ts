import type { Logger } from '../../src/logger.ts'

export type CapturedLine = { level: string; msg: string; fields: Record<string, unknown> }

/** A logger that keeps every line in memory, so a test can wait for the server to say something. */
export function captureLogger(base: Record<string, unknown> = {}, lines: CapturedLine[] = []) {
  const write = (level: string) => (msg: string, fields?: Record<string, unknown>) => {
    lines.push({ level, msg, fields: { ...base, ...fields } })
  }
  const log: Logger = {
    debug: write('debug'),
    info: write('info'),
    warn: write('warn'),
    error: write('error'),
    child: (fields) => captureLogger({ ...base, ...fields }, lines).log,
  }
  return { log, lines }
}
