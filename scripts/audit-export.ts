// Writes the event log as NDJSON, one event per line in log order (see src/audit/audit-events.ts):
//   npm run -s audit:export > history.ndjson
//   npm run audit:export -- --out history.ndjson [--type MessageSent,MessageEdited]
//     [--stream <id>] [--actor <userId>] [--from <iso>] [--to <iso>] [--after <position>]
//   npm run audit:export -- --server http://localhost:3000 --token <auditor token> --out h.ndjson
// Without --server it reads the database of DATABASE_URL (or the embedded one in DATA_DIR: stop the
// server first, PGlite serves one process; or use --server).

import { createWriteStream } from 'node:fs'
import { Readable, type Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { parseArgs } from 'node:util'
import { type AuditFilter, exportAuditEvents } from '../src/audit/audit-events.ts'
import { databaseOptions, loadConfig } from '../src/config.ts'
import { type EventType, eventTypes } from '../src/domain/events.ts'
import { openDatabase } from '../src/eventstore/database.ts'

const { values } = parseArgs({
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

function fail(message: string): never {
  console.error(message)
  process.exit(2)
}

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

let rows = 0

/** Passes the export through, remembering its last line: a failed export ends with an error. */
function watchLastLine(body: ReadableStream<Uint8Array>) {
  const decoder = new TextDecoder()
  let tail = ''
  const watched = body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        tail = (tail + decoder.decode(chunk, { stream: true })).slice(-4096)
        controller.enqueue(chunk)
      },
    }),
  )
  const failure = () => {
    const last = tail.trimEnd().split('\n').at(-1) ?? ''
    if (!last.startsWith('{"error":')) return null
    return (JSON.parse(last) as { error: { message: string } }).error.message
  }
  return { watched, failure }
}

async function write(body: ReadableStream<Uint8Array>) {
  const { watched, failure } = watchLastLine(body)
  await pipeline(Readable.fromWeb(watched as never), out)
  const message = failure()
  if (message) {
    console.error(message)
    process.exitCode = 2
  }
}
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
  })
  if (!res.ok || !res.body) fail(`${res.status} ${await res.text()}`)
  await write(res.body as ReadableStream<Uint8Array>)
} else {
  const config = loadConfig(process.env)
  const db = await openDatabase(databaseOptions(config, 2))
  try {
    const body = await exportAuditEvents(db.sql, filter, {
      strategy: 'cursor',
      onBatch: (n) => {
        rows = n
      },
    })
    await write(body)
  } catch (error) {
    console.error((error as Error).message)
    process.exitCode = 2
  } finally {
    await db.close()
  }
  if (!process.exitCode) console.error(`exported ${rows} events`)
}
