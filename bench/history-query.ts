// The history page's query alone, plain messages against messages with reactions and replies,
// one connection, one query at a time: the database's cost of the view, without HTTP.
import postgres from 'postgres'
import { openDatabase } from '../src/eventstore/database.ts'
import { migrate } from '../src/eventstore/migrations.ts'
import { listMessagesOfMember } from '../src/projections/messages.ts'
import { decorateConversations } from './http-features-seed.ts'
import { mulberry32, seedChat } from './http-seed.ts'

const url = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
const SCHEMA = 'bench_history_query'
const admin = postgres(url, { max: 1, onnotice: () => {} })
await admin.unsafe(`drop schema if exists ${SCHEMA} cascade`)
const db = await openDatabase({ url, schema: SCHEMA, max: 2 })
await migrate(db.sql)
const sql = db.sql
const seeded = await seedChat(sql, {
  from: 0,
  conversations: 400,
  messagesPerConversation: 200,
  users: 2000,
  start: new Date('2025-01-01T00:00:00Z'),
})
await sql`create index if not exists messages_by_id on messages (message_id)`
const half = seeded.length / 2
await decorateConversations(sql, seeded.slice(0, half))
await sql`analyze messages, conversation_members, conversations`
const random = mulberry32(3)
const pick = <T>(xs: T[]) => xs[Math.floor(random() * xs.length)]!
const rounds = Number(process.env.ROUNDS ?? 3)
const perRound = Number(process.env.QUERIES ?? 1000)
const table: string[] = ['| round | kind | p50 ms | p99 ms | mean ms |', '|---|---|---:|---:|---:|']
for (let r = 1; r <= rounds; r++) {
  for (const [kind, cs] of [
    ['plain', seeded.slice(half)],
    ['reactions + replies', seeded.slice(0, half)],
  ] as const) {
    const times: number[] = []
    for (let i = 0; i < perRound; i++) {
      const c = pick(cs)
      const t = performance.now()
      await listMessagesOfMember(sql, {
        conversationId: c.id,
        userId: pick(c.members),
        limit: 50,
      })
      times.push(performance.now() - t)
    }
    times.sort((a, b) => a - b)
    const q = (p: number) => times[Math.min(times.length - 1, Math.floor(p * times.length))]!
    const mean = times.reduce((a, b) => a + b, 0) / times.length
    table.push(
      `| ${r} | ${kind} | ${q(0.5).toFixed(2)} | ${q(0.99).toFixed(2)} | ${mean.toFixed(2)} |`,
    )
  }
}
console.log(table.join('\n'))
await db.close()
if (process.env.BENCH_KEEP !== '1') await admin.unsafe(`drop schema if exists ${SCHEMA} cascade`)
await admin.end()
