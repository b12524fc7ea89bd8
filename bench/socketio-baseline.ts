/**
 * The baselines for `npm run bench:ws`: a minimal chat server built the old way, with Socket.IO.
 * Each socket joins the room of its user; `send_message` writes with postgres.js, then emits the
 * message to the receiver's room and acknowledges. No resume, no idempotency, no ordered stream.
 *
 * BASELINE_WRITES chooses what a message writes:
 * - `row` (the default, the old system): one `INSERT` into a table of its own.
 * - `log`: the database work one SendMessage needs in this product, the statements of
 *   bench/pgbench-append.sql (which `bench:append` runs beside the command batcher), on the
 *   tables of migrations/, one transaction per message, each statement awaited in turn as an
 *   ORM would: the stream's snapshot, then BEGIN, the stream row locked and its version checked,
 *   the event appended, the stream row moved, the message's facts, the members' unread counts,
 *   the message with its search vector, COMMIT. A pair's first message creates its stream and
 *   member rows. It isolates what the writes cost from how a server organises them.
 *
 * Environment: DATABASE_URL, BENCH_SCHEMA, JWT_SECRET, PORT (0: any), BASELINE_WRITES. Prints
 * `{"listening":port}` once ready.
 */
import { randomUUID } from 'node:crypto'
import { createServer } from 'node:http'
import { jwtVerify } from 'jose'
import postgres from 'postgres'
import { Server } from 'socket.io'
import { migrate } from '../src/eventstore/migrations.ts'

const schema = process.env.BENCH_SCHEMA ?? 'bench_ws'
const sql = postgres(process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test', {
  max: 10,
  onnotice: () => {},
  connection: { search_path: schema, application_name: 'bench_ws_socketio' },
})
const key = new TextEncoder().encode(process.env.JWT_SECRET ?? '')
const writes = process.env.BASELINE_WRITES ?? 'row'
if (writes !== 'row' && writes !== 'log') throw new Error('BASELINE_WRITES must be row or log')

if (writes === 'log') await migrate(sql)
else
  await sql`
    create table if not exists old_messages (
      id bigserial primary key,
      sender_id text not null,
      receiver_id text not null,
      content text not null,
      created_at timestamptz not null default now()
    )`

type Stored = { id: string; createdAt: Date }

async function insertRow(senderId: string, receiverId: string, content: string): Promise<Stored> {
  const [row] = await sql<{ id: string; created_at: Date }[]>`
    insert into old_messages (sender_id, receiver_id, content)
    values (${senderId}, ${receiverId}, ${content})
    returning id, created_at`
  return { id: row!.id, createdAt: row!.created_at }
}

const started = new Set<string>()

/** bench/pgbench-append.sql's statements, with the values from Node instead of pgbench. */
async function appendToLog(senderId: string, receiverId: string, content: string): Promise<Stored> {
  const sid = `dm:${[senderId, receiverId].sort().join(':')}`
  const messageId = randomUUID()
  const [snapshot] = await sql<{ state: unknown }[]>`
    select state from streams where stream_id = ${sid}`
  return sql.begin(async (tx) => {
    if (!snapshot && !started.has(sid)) {
      await tx`
        insert into streams (stream_id, version, last_hash, state)
        values (${sid}, 0, md5(${sid}), '{"version":0}'::jsonb)
        on conflict do nothing`
      await tx`
        insert into conversation_members (conversation_id, user_id, joined_version)
        values (${sid}, ${senderId}, 0), (${sid}, ${receiverId}, 0)
        on conflict do nothing`
      started.add(sid)
    }
    const [stream] = await tx<{ v: number; last_hash: string; state: object }[]>`
      select version + 1 as v, last_hash, state from streams where stream_id = ${sid} for update`
    const { v, last_hash: lastHash, state } = stream!
    const [event] = await tx<{ position: string; recorded_at: Date }[]>`
      insert into events (stream_id, version, type, schema_version, data, content, content_salt,
        content_digest, metadata, recorded_at, hash)
      values (${sid}, ${v}, 'MessageSent', 1,
        jsonb_build_object('conversationId', ${sid}::text, 'messageId', ${messageId}::text,
          'senderId', ${senderId}::text, 'clientMessageId', null, 'sentAt', now()::text),
        jsonb_build_object('content', ${content}::text, 'attachments', '[]'::jsonb),
        md5(${messageId}), md5(${content}) || md5(${sid}),
        jsonb_build_object('actorId', ${senderId}::text, 'commandId', gen_random_uuid()::text,
          'correlationId', gen_random_uuid()::text, 'causationId', null),
        now(), md5(${lastHash}) || md5(${messageId}))
      returning position, recorded_at`
    await tx`
      update streams
      set version = ${v}, last_hash = md5(${lastHash}) || md5(${messageId}),
        state = jsonb_set(jsonb_set(${sql.json(state as never)}, '{version}', to_jsonb(${v}::int)),
          '{lastMessage}', jsonb_build_object('messageId', ${messageId}::text, 'version', ${v}::int))
      where stream_id = ${sid}`
    await tx`
      insert into message_facts (message_id, conversation_id, sender_id, version, has_attachments)
      values (${messageId}, ${sid}, ${senderId}, ${v}, false)`
    await tx`
      update conversation_members
      set unread_count = unread_count + (user_id <> ${senderId})::int,
        last_activity_at = greatest(coalesce(last_activity_at, now()), now())
      where conversation_id = ${sid} and left_version is null and joined_version <= ${v}`
    await tx`
      insert into messages (conversation_id, version, message_id, sender_id, content, attachments,
        client_message_id, sent_at, erased)
      values (${sid}, ${v}, ${messageId}, ${senderId}, ${content}, '[]'::jsonb, null, now(), false)`
    return { id: event!.position, createdAt: event!.recorded_at }
  })
}

const store = writes === 'log' ? appendToLog : insertRow

const http = createServer()
const io = new Server(http, { transports: ['websocket'], serveClient: false })

io.use(async (socket, next) => {
  try {
    const { payload } = await jwtVerify(String(socket.handshake.auth.token ?? ''), key, {
      algorithms: ['HS256'],
    })
    socket.data.userId = String(payload.sub)
    next()
  } catch {
    next(new Error('unauthorized'))
  }
})

io.on('connection', (socket) => {
  const userId: string = socket.data.userId
  void socket.join(`user:${userId}`)
  socket.on(
    'send_message',
    async (
      body: { receiverId: string; content: string },
      ack?: (reply: { ok: boolean; id?: string }) => void,
    ) => {
      try {
        const stored = await store(userId, body.receiverId, body.content)
        const message = {
          id: stored.id,
          senderId: userId,
          receiverId: body.receiverId,
          content: body.content,
          createdAt: stored.createdAt,
        }
        io.to(`user:${body.receiverId}`).emit('new_message', message)
        ack?.({ ok: true, id: stored.id })
      } catch {
        ack?.({ ok: false })
      }
    },
  )
})

http.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  const address = http.address()
  console.log(JSON.stringify({ listening: typeof address === 'object' ? address?.port : 0 }))
})

process.on('SIGTERM', () => {
  io.close()
  void sql.end({ timeout: 2 }).then(() => process.exit(0))
})
