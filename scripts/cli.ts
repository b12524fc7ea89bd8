// What every `npm run` script shares: --help, refusing unknown options, progress and a summary.
// Node's own parseArgs reads the options; the progress bar is a few lines rather than a
// dependency (it only needs a rate and an ETA on one line of stderr).

import { type ParseArgsConfig, parseArgs } from 'node:util'
import { type Config, loadConfig } from '../src/config.ts'
import type { Queryable } from '../src/eventstore/sql.ts'

type Options = NonNullable<ParseArgsConfig['options']>

export type CommandLineSpec<O extends Options> = {
  /** The first line of --help: how to call it. */
  usage: string
  /** What it does, and one line per option (printed as is under the usage line). */
  help: string
  options: O
  allowPositionals?: boolean
}

/**
 * Parses the command line; `--help` prints the usage and exits 0, an unknown or malformed option
 * prints one line naming it and exits 2 (as usage errors do for every Unix tool).
 */
export function parseCommandLine<O extends Options>(spec: CommandLineSpec<O>, args?: string[]) {
  const argv = args ?? process.argv.slice(2)
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(`usage: ${spec.usage}\n\n${spec.help.trim()}`)
    process.exit(0)
  }
  try {
    return parseArgs({
      args: argv,
      options: spec.options,
      allowPositionals: spec.allowPositionals ?? false,
      strict: true,
    })
  } catch (error) {
    const first = (error as Error).message.split('\n')[0]!.split('. To specify')[0]
    usageError(`${first} (see --help)`)
  }
}

/** A wrong call: one line on stderr, exit code 2. */
export function usageError(message: string): never {
  console.error(message)
  process.exit(2)
}

export type Progress = {
  /** `done` units so far (absolute, not an increment). */
  update(done: number): void
  /** Clears the bar; the caller prints its one-line summary after this. */
  finish(): void
}

const BAR_WIDTH = 30
const REDRAW_MS = 100
const JSON_EVERY_MS = 2000

/**
 * Progress on stderr: on a terminal a bar with the rate and the time left, redrawn in place;
 * otherwise a JSON line every 2 s (`{"progress":…}`), so logs and CI show a long job moving.
 */
export function createProgress(label: string, total: number | null, unit = 'events'): Progress {
  const started = performance.now()
  const tty = process.stderr.isTTY === true
  let last = 0
  let shown = false
  const render = (done: number) => {
    const seconds = (performance.now() - started) / 1000
    const rate = seconds > 0 ? done / seconds : 0
    const left = total && rate > 0 ? Math.max(0, (total - done) / rate) : null
    if (!tty) {
      const line = {
        progress: label,
        done,
        total,
        rate: Math.round(rate),
        etaSeconds: left === null ? null : Math.round(left),
      }
      console.error(JSON.stringify(line))
      return
    }
    const share = total ? Math.min(1, done / total) : 0
    const filled = Math.round(share * BAR_WIDTH)
    const bar = total ? `[${'#'.repeat(filled)}${'.'.repeat(BAR_WIDTH - filled)}] ` : ''
    const count = total ? `${done}/${total}` : `${done}`
    const eta = left === null ? '' : `, ${formatSeconds(left)} left`
    process.stderr.write(`\r${label} ${bar}${count} ${unit}, ${Math.round(rate)}/s${eta}\x1b[K`)
    shown = true
  }
  return {
    update(done) {
      const now = performance.now()
      if (now - last < (tty ? REDRAW_MS : JSON_EVERY_MS)) return
      last = now
      render(done)
    },
    finish() {
      if (shown) process.stderr.write('\r\x1b[K')
    },
  }
}

function formatSeconds(s: number): string {
  if (s < 60) return `${Math.ceil(s)} s`
  const m = Math.floor(s / 60)
  return `${m} min ${Math.ceil(s - m * 60)} s`
}

/** The configuration from the environment; a bad value is a usage error naming the variable. */
export function configFromEnv(): Config {
  try {
    return loadConfig(process.env)
  } catch (error) {
    usageError((error as Error).message)
  }
}

/** The number of events in the log (the total of a progress bar over all of it). */
export async function countEvents(sql: Queryable): Promise<number> {
  const [row] = await sql<{ n: number }[]>`select count(*)::int as n from events`
  return row?.n ?? 0
}
