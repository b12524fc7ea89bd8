import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { CommandOptions, ExecuteCommand } from '../src/application/command-handler.ts'
import type { AppContext } from '../src/application/context.ts'
import * as useCases from '../src/application/use-cases.ts'
import type { ConversationCommand } from '../src/domain/commands.ts'
import { directConversationId } from '../src/domain/conversation-id.ts'
import { DomainError } from '../src/domain/errors.ts'
import type { Services } from '../src/services.ts'
import { createChatServices } from './support/chat-services.ts'

let services: Services
beforeAll(async () => {
  services = await createChatServices({}, { start: Date.parse('2030-02-03T04:05:06.000Z') })
})
afterAll(async () => {
  await services?.db.close()
})

/** The process's context with an executor that records what the use cases hand it. */
function recording() {
  const calls: { command: ConversationCommand; options: CommandOptions }[] = []
  const execute: ExecuteCommand = (command, options) => {
    calls.push({ command, options })
    return services.execute(command, options)
  }
  const ctx: AppContext = { ...services.app, execute }
  return { ctx, calls }
}

describe('use cases', () => {
  it('reach the store only through the injected executor, with time, ids and correlation set once', async () => {
    const { ctx, calls } = recording()
    const caller = { userId: 'uc-alice', correlationId: 'corr-uc-1' }
    const sent = await useCases.sendMessage(ctx, caller, {
      receiverId: 'uc-bob',
      content: 'hello',
      clientMessageId: 'uc-cm-1',
    })
    await useCases.markRead(
      ctx,
      { userId: 'uc-bob', correlationId: 'corr-uc-2' },
      {
        conversationId: sent.conversationId,
      },
    )
    expect(calls.map((c) => c.command.type)).toEqual(['SendMessage', 'MarkRead'])
    const [send, read] = calls
    expect(send!.command).toMatchObject({
      conversationId: directConversationId('uc-alice', 'uc-bob'),
      receiverId: 'uc-bob',
      clientMessageId: 'uc-cm-1',
    })
    expect(send!.options).toEqual({
      actorId: 'uc-alice',
      now: send!.options.now,
      clientCommandId: 'uc-cm-1',
      correlationId: 'corr-uc-1',
      causationId: null,
    })
    // the message id carries the time of the command: one clock reading for both
    const messageId = (send!.command as { messageId: string }).messageId
    const idTime = Number.parseInt(messageId.replaceAll('-', '').slice(0, 12), 16)
    expect(new Date(idTime).toISOString()).toBe(send!.options.now)
    expect(read!.options).toMatchObject({ actorId: 'uc-bob', correlationId: 'corr-uc-2' })
  })

  it('answers a message outside the caller’s conversations like a message that does not exist', async () => {
    const { ctx } = recording()
    const sent = await useCases.sendMessage(
      ctx,
      { userId: 'uc-carol', correlationId: 'c1' },
      { receiverId: 'uc-dave', content: 'private' },
    )
    const stranger = { userId: 'uc-eve', correlationId: 'c2' }
    for (const attempt of [
      () => useCases.editMessage(ctx, stranger, { messageId: sent.messageId!, content: 'x' }),
      () => useCases.deleteMessage(ctx, stranger, { messageId: sent.messageId! }),
      () => useCases.deleteMessage(ctx, stranger, { messageId: 'no-such-message' }),
    ]) {
      const error = await attempt().catch((e: unknown) => e)
      expect(error).toBeInstanceOf(DomainError)
      expect((error as DomainError).code).toBe('message_not_found')
    }
  })
})
