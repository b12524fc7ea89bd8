import { describe, expectTypeOf, it } from 'vitest'
import type { ConversationView, MessageView } from '../src/projections/views.ts'
import type { EventFrame, PresenceFrame, SignalFrame } from '../src/realtime/protocol.ts'
import type * as sdk from '../src/sdk/index.ts'

// The SDK keeps its own wire types (it imports nothing of the server); these checks fail to
// compile (`npm run check`) and to run when the server's frames stop fitting them.
describe('the SDK types fit what the server sends', () => {
  it('views', () => {
    expectTypeOf<MessageView>().toExtend<sdk.Message>()
    expectTypeOf<ConversationView>().toExtend<sdk.Conversation>()
  })

  it('logged event frames and signals', () => {
    expectTypeOf<EventFrame>().toExtend<sdk.EventFrame>()
    expectTypeOf<SignalFrame>().toExtend<sdk.SignalFrames[keyof sdk.SignalFrames]>()
    expectTypeOf<PresenceFrame>().toExtend<sdk.PresenceFrame>()
    expectTypeOf<PresenceFrame>().toExtend<sdk.RealtimeEvents['presence']>()
    expectTypeOf<Extract<EventFrame, { type: 'messages_read' }>>().toExtend<
      sdk.EventFrames['messages_read']
    >()
  })
})
