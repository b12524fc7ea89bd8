// Writes the event log as NDJSON, one event per line in log order (see src/audit/audit-events.ts):
//   npm run -s audit:export > history.ndjson
//   npm run audit:export -- --out history.ndjson [--type MessageSent,MessageEdited]
//     [--stream <id>] [--actor <userId>] [--from <iso>] [--to <iso>] [--after <position>]
//   npm run audit:export -- --server http://localhost:3000 --token <auditor token> --out h.ndjson
// Without --server it reads the database of DATABASE_URL (or the embedded one in DATA_DIR: stop the
// server first, PGlite serves one process; or use --server).

import { createWriteStream } from 'node:fs'
import { Readable, Transform, type Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { type AuditFilter, exportAuditEvents } from '../src/audit/audit-events.ts'
import { databaseOptions } from '../src/config.ts'
import { type EventType, eventTypes } from '../src/domain/events.ts'
import { openDatabase } from '../src/eventstore/database.ts'
import {
  configFromEnv,
  countEvents,
  createProgress,
  usageError as fail,
  parseCommandLine,
} from './cli.ts'

const { values } = parseCommandLine({
  usage: 'npm run -s audit:export [-- --out history.ndjson] [filters] [--server URL --token T]',
  help: `
Writes the event log as NDJSON, one event per line in log order (the items of GET
/api/audit/events), to stdout or --out. Reads DATABASE_URL, or the embedded database in
DATA_DIR (stop the server first: PGlite serves one process), or a running server (--server).
  -o, --out <path>        write to this file instead of stdout
  --type <A,B>            only these event types
  --stream <id>           only this conversation
  --actor <userId>        only events whose actor is this user
  --from <iso>, --to <iso>   only events recorded in this interval
  --after <position>      only events after this log position
  --server <url>          export through a running server's audit API
  --token <token>         an auditor token for --server (or AUDIT_TOKEN)
  -h, --help              this text
Progress goes to stderr, then a one-line summary. Exit code 0 when complete, 1 when the export
failed midway (the output is then incomplete), 2 for a wrong call or when it could not start.`,
  options: {
    out: { type: 'string', short: 'o' },
    type: { type: 'string' },
    stream: { type: 'string' },
    actor: { type: 'string' },
    from: { type: 'string' },
    to: { type: 'string' },
    after: { type: 'string' },
    server: { type: 'string' },
    token: { type: 'string' },
  },
})

const types = values.type?.split(',').map((t) => t.trim())
for (const t of types ?? []) {
  if (!(eventTypes as string[]).includes(t)) fail(`unknown event type ${t}`)
}
const after = values.after === undefined ? undefined : Number(values.after)
if (after !== undefined && !(Number.isInteger(after) && after >= 0)) fail('--after: a position')
const filter: AuditFilter = {
  after,
  types: types as EventType[] | undefined,
  streamId: values.stream,
  actor: values.actor,
  from: values.from,
  to: values.to,
}
const out: Writable = values.out ? createWriteStream(values.out) : process.stdout

const filtered = Object.values(filter).some((v) => v !== undefined)
const started = performance.now()
let lines = 0
try {
  if (values.server) {
    const token = values.token ?? process.env.AUDIT_TOKEN
    if (!token) fail('--server needs --token (or AUDIT_TOKEN): an auditor token')
    const query = new URLSearchParams()
    for (const [k, v] of Object.entries({
      after: values.after,
      type: values.type,
      streamId: values.stream,
      actor: values.actor,
      from: values.from,
      to: values.to,
    })) {
      if (v !== undefined) query.set(k, v)
    }
    const res = await fetch(`${values.server.replace(/\/$/, '')}/api/audit/events?${query}`, {
      headers: { accept: 'application/x-ndjson', authorization: `Bearer ${token}` },
    }).catch((error) => fail(`cannot reach ${values.server}: ${(error as Error).message}`))
    if (!res.ok || !res.body) fail(`${res.status} ${await res.text()}`)
    await write(Readable.fromWeb(res.body as never), null)
  } else {
    const config = configFromEnv()
    const db = await openDatabase(databaseOptions(config, 2))
    try {
      const total = filtered ? null : await countEvents(db.sql)
      const body = await exportAuditEvents(db.sql, filter, { strategy: 'cursor' })
      await write(Readable.fromWeb(body as never), total)
    } finally {
      await db.close()
    }
  }
} catch (error) {
  console.error(`audit:export failed after ${lines} events: ${(error as Error).message}`)
  process.exit(values.out || lines > 0 ? 1 : 2)
}
const seconds = ((performance.now() - started) / 1000).toFixed(1)
console.error(`exported ${lines} events in ${seconds} s${values.out ? ` to ${values.out}` : ''}`)

/** Copies the NDJSON body to the output, counting its lines for the progress bar. */
async function write(body: Readable, total: number | null) {
  const progress = createProgress('export', total)
  const decoder = new TextDecoder()
  let tail = ''
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      tail = (tail + decoder.decode(chunk, { stream: true })).slice(-4096)
      for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) lines++
      progress.update(lines)
      done(null, chunk)
    },
  })
  await pipeline(body, counter, out)
  progress.finish()
  // a server-side failure midway ends the stream with an error record instead of an event
  const last = tail.trimEnd().split('\n').at(-1) ?? ''
  if (last.startsWith('{"error":')) {
    const { error } = JSON.parse(last) as { error: { message: string } }
    throw new Error(`${error.message} (the output is incomplete)`)
  }
}
