import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'
import { useRealtimeServer } from './support/realtime-fixture.ts'
import { directConversationId, uniqueUser } from './support/realtime-server.ts'

const root = fileURLToPath(new URL('../', import.meta.url))
const rt = useRealtimeServer()

describe('the SDK under Deno', () => {
  it('sends over REST and receives over the stream with Deno’s own fetch and WebSocket', async () => {
    const alice = uniqueUser('alice')
    const bob = uniqueUser('bob')
    const { stdout } = await promisify(execFile)(
      `${root}node_modules/.bin/deno`,
      [
        'run',
        '--allow-net',
        '--allow-read',
        '--allow-env',
        '--node-modules-dir=manual',
        'test/support/sdk-deno-client.ts',
        rt.server.url,
        await rt.server.token(alice),
        await rt.server.token(bob),
        bob,
      ],
      {
        cwd: root,
        timeout: 120_000,
        env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp' },
      },
    )
    const result = JSON.parse(stdout.trim().split('\n').at(-1)!)
    expect(result).toMatchObject({
      status: 201,
      content: 'from Deno',
      ackConversation: directConversationId(alice, bob),
    })
    expect(result.receivedId).toBe(result.sentId)
  }, 150_000)
})
