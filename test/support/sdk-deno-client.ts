// Run by test/sdk-deno.e2e.test.ts under Deno: the SDK with Deno's own fetch and WebSocket.
// Arguments: <server url> <sender token> <receiver token> <receiver id>. Prints one JSON line.
import { createRestClient, RealtimeClient } from '../../src/sdk/index.ts'

declare const Deno: { args: string[]; exit(code: number): never }

const [url, senderToken, receiverToken, receiverId] = Deno.args as [string, string, string, string]
const receiver = new RealtimeClient({ url, token: receiverToken, watchNetwork: false })
await receiver.once('ready')
const arrived = receiver.once('message')
const api = createRestClient({ baseUrl: url, token: senderToken })
const sent = await api.POST('/api/chat/send', {
  body: { receiverId, content: 'from Deno' },
})
const frame = await arrived
const ack = await receiver.sendMessage({ conversationId: frame.conversationId, content: 'back' })
receiver.close()
console.log(
  JSON.stringify({
    status: sent.response.status,
    sentId: sent.data?.message.id,
    receivedId: frame.message.id,
    content: frame.message.content,
    ackConversation: ack.conversationId,
  }),
)
Deno.exit(0)
