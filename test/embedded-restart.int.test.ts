import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, expect, it } from 'vitest'
import { handleCommand } from '../src/application/command-handler.ts'
import { conversationLog } from '../src/conversation-log.ts'
import { directConversationId, newId } from '../src/domain/conversation-id.ts'
import { DataDirInUseError } from '../src/eventstore/data-dir-lock.ts'
import { openDatabase } from '../src/eventstore/database.ts'
import { migrate } from '../src/eventstore/migrations.ts'

const dirs: string[] = []
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true })
})

// Runs in both CI passes: the embedded database is what `npm start` uses with no DATABASE_URL.
it('keeps what was written in the embedded database across a restart', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'eventchat-data-'))
  dirs.push(dataDir)
  const id = directConversationId('alice', 'bob')
  const first = await openDatabase({ dataDir })
  expect(first.mode).toBe('embedded')
  await migrate(first.sql)
  await handleCommand(
    { sql: first.sql },
    {
      type: 'SendMessage',
      conversationId: id,
      messageId: newId(),
      content: 'before restart',
      receiverId: 'bob',
    },
    { actorId: 'alice', now: new Date().toISOString() },
  )
  await first.close()

  const second = await openDatabase({ dataDir })
  expect(await migrate(second.sql)).toEqual([])
  const events = await conversationLog.readStream(second.sql, id)
  expect(events.map((e) => e.type)).toEqual(['ConversationStarted', 'MessageSent'])
  expect((events[1]!.data as { content: string }).content).toBe('before restart')
  await second.close()
})

it('refuses a second embedded database on the same data directory until the first is closed', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'eventchat-lock-'))
  dirs.push(dataDir)
  const first = await openDatabase({ dataDir })
  const error = await openDatabase({ dataDir }).catch((e) => e)
  expect(error).toBeInstanceOf(DataDirInUseError)
  expect(error.message).toContain(`process ${process.pid}`)
  expect(error.message).toContain('DATABASE_URL')
  await first.close()
  const second = await openDatabase({ dataDir })
  expect(second.mode).toBe('embedded')
  await second.close()
})

it('takes over a lock left by a process that no longer runs', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'eventchat-stale-'))
  dirs.push(dataDir)
  // A pid above the kernel's limit (pid_max is at most 2^22) cannot be running.
  await writeFile(join(dataDir, 'eventchat.pid'), String(2 ** 22 + 1))
  const db = await openDatabase({ dataDir })
  expect(db.mode).toBe('embedded')
  await db.close()
})
