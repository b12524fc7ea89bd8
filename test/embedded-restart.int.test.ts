import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, expect, it } from 'vitest'
import { directConversationId, newId } from '../src/domain/conversation-id.ts'
import { handleCommand } from '../src/eventstore/command-handler.ts'
import { openDatabase } from '../src/eventstore/database.ts'
import { readStream } from '../src/eventstore/event-store.ts'
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
  const events = await readStream(second.sql, id)
  expect(events.map((e) => e.type)).toEqual(['ConversationStarted', 'MessageSent'])
  expect((events[1]!.data as { content: string }).content).toBe('before restart')
  await second.close()
})
