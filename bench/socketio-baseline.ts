/**
 * The baseline for `npm run bench:ws`: a minimal chat server built the old way, with Socket.IO.
 * Each socket joins the room of its user; `send_message` inserts a row with postgres.js, then
 * emits it to the receiver's room and acknowledges. No log, no resume, no read models.
 *
 * Environment: DATABASE_URL, BENCH_SCHEMA, JWT_SECRET, PORT (0: any). Prints
 * `{"listening":port}` once ready.
 */
import { createServer } from 'node:http'
import { jwtVerify } from 'jose'
import postgres from 'postgres'
import { Server } from 'socket.io'

const schema = process.env.BENCH_SCHEMA ?? 'bench_ws'
const sql = postgres(process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test', {
  max: 10,
  onnotice: () => {},
  connection: { search_path: schema, application_name: 'bench_ws_socketio' },
})
const key = new TextEncoder().encode(process.env.JWT_SECRET ?? '')

await sql`
  create table if not exists old_messages (
    id bigserial primary key,
    sender_id text not null,
    receiver_id text not null,
    content text not null,
    created_at timestamptz not null default now()
  )`

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
        const [row] = await sql<{ id: string; created_at: Date }[]>`
          insert into old_messages (sender_id, receiver_id, content)
          values (${userId}, ${body.receiverId}, ${body.content})
          returning id, created_at`
        const message = {
          id: row!.id,
          senderId: userId,
          receiverId: body.receiverId,
          content: body.content,
          createdAt: row!.created_at,
        }
        io.to(`user:${body.receiverId}`).emit('new_message', message)
        ack?.({ ok: true, id: row!.id })
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
