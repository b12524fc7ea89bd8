// The chat page: plain DOM over the SDK (REST for lists and history, the stream for live events).
import {
  type Conversation,
  createRestClient,
  type Message,
  RealtimeClient,
  type RestClient,
} from '../src/sdk/index.ts'

const TOKEN_KEY = 'eventchat.token'
const TYPING_RENEW_MS = 2000

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T

type State = {
  me: string
  api: RestClient
  stream: RealtimeClient
  conversations: Map<string, Conversation>
  selected: string | null
  /** The messages shown, in order (the selected conversation). */
  shown: Message[]
  typingSentAt: number
}

let state: State | null = null

/** The user id (`sub`) of a JWT, read without verifying it (the server verifies). */
function subjectOf(token: string): string {
  const part = token.split('.')[1] ?? ''
  const json = atob(part.replace(/-/g, '+').replace(/_/g, '/'))
  const sub = (JSON.parse(json) as { sub?: unknown }).sub
  if (typeof sub !== 'string') throw new Error('The token has no subject')
  return sub
}

async function signIn(token: string) {
  const me = subjectOf(token)
  const api = createRestClient({ token })
  const check = await api.GET('/api/chat/unread-count')
  if (!check.response.ok) throw new Error(check.error?.error.message ?? 'Sign-in refused')
  localStorage.setItem(TOKEN_KEY, token)
  const stream = new RealtimeClient({ url: location.origin, token })
  state = { me, api, stream, conversations: new Map(), selected: null, shown: [], typingSentAt: 0 }
  $('sign-in').hidden = true
  $('chat').hidden = false
  $('me').textContent = me
  wireStream(state)
  await loadConversations()
}

function wireStream(s: State) {
  const status = $('status')
  s.stream.on('status', (st) => {
    const text = st.state === 'open' ? 'online' : st.state === 'offline' ? 'offline' : 'connecting'
    status.textContent = text
    status.dataset.state = text
  })
  s.stream.on('ready', () => {
    // placed in the log after a (re)connect: counts may have moved while away
    void loadConversations()
  })
  s.stream.on('message', ({ message }) => onMessage(message))
  s.stream.on('messages_read', (f) => {
    if (f.conversationId !== s.selected || f.userId === s.me) return
    const upTo = s.shown.findIndex((m) => m.id === f.upToMessageId)
    s.shown.forEach((m, i) => {
      if (i <= upTo && m.senderId === s.me) setRead(m.id)
    })
  })
  s.stream.on('messages_delivered', (f) => {
    if (f.conversationId !== s.selected || f.userId === s.me) return
    const upTo = s.shown.findIndex((m) => m.id === f.upToMessageId)
    s.shown.forEach((m, i) => {
      if (i <= upTo && m.senderId === s.me) setRead(m.id, 'delivered')
    })
  })
  s.stream.on('conversation_started', () => void loadConversations())
  s.stream.on('conversation_updated', () => void loadConversations())
  s.stream.on('participant_removed', () => void loadConversations())
  s.stream.on('user_typing', (f) => {
    if (f.conversationId === s.selected) $('typing').textContent = `${f.userId} is typing…`
  })
  s.stream.on('user_stopped_typing', (f) => {
    if (f.conversationId === s.selected) $('typing').textContent = ''
  })
}

async function loadConversations() {
  const s = state
  if (!s) return
  const { data } = await s.api.GET('/api/chat/conversations', { params: { query: { limit: 100 } } })
  if (!data) return
  s.conversations = new Map(data.items.map((c) => [c.id, c]))
  renderConversations()
}

function titleOf(c: Conversation, me: string): string {
  return c.title ?? (c.participantIds.filter((p) => p !== me).join(', ') || me)
}

function renderConversations() {
  const s = state!
  const list = $('conversations')
  list.replaceChildren(
    ...[...s.conversations.values()].map((c) => {
      const li = document.createElement('li')
      li.dataset.id = c.id
      li.setAttribute('aria-selected', String(c.id === s.selected))
      const name = document.createElement('span')
      name.className = 'name'
      name.textContent = titleOf(c, s.me)
      const unread = document.createElement('span')
      unread.className = 'unread'
      const count = c.id === s.selected ? 0 : c.unreadCount
      unread.dataset.count = String(count)
      unread.textContent = String(count)
      li.append(name, unread)
      li.addEventListener('click', () => void select(c.id))
      return li
    }),
  )
}

async function select(conversationId: string) {
  const s = state!
  s.selected = conversationId
  s.shown = []
  $('messages').replaceChildren()
  $('typing').textContent = ''
  const conversation = s.conversations.get(conversationId)
  $('conversation-title').textContent = conversation ? titleOf(conversation, s.me) : ''
  ;($('message-input') as HTMLInputElement).disabled = false
  ;($('send') as HTMLButtonElement).disabled = false
  renderConversations()
  await s.stream.join(conversationId)
  const { data } = await s.api.GET('/api/chat/conversations/{id}/messages', {
    params: { path: { id: conversationId }, query: { limit: 50 } },
  })
  if (s.selected !== conversationId || !data) return
  for (const message of [...data.items].reverse()) show(message)
  await markRead()
}

/** A new message from the stream (once per id, in log order). */
function onMessage(message: Message) {
  const s = state!
  const known = s.conversations.get(message.conversationId)
  if (!known) {
    void loadConversations()
    return
  }
  if (message.conversationId === s.selected) {
    show(message)
    if (message.senderId !== s.me) void markRead()
  } else if (message.senderId !== s.me) {
    known.unreadCount += 1
    // it reached this page: the sender sees it delivered
    void s.stream.markDelivered(message.conversationId, message.id).catch(() => {})
  }
  renderConversations()
}

function show(message: Message) {
  const s = state!
  if (s.shown.some((m) => m.id === message.id)) return
  s.shown.push(message)
  const li = document.createElement('li')
  li.className = message.senderId === s.me ? 'message mine' : 'message'
  li.dataset.id = message.id
  const sender = document.createElement('span')
  sender.className = 'sender'
  sender.textContent = message.senderId
  const content = document.createElement('span')
  content.className = 'content'
  content.textContent = message.content ?? '(deleted)'
  li.append(sender, content)
  if (message.senderId === s.me) {
    const mark = document.createElement('span')
    mark.className = 'state'
    mark.textContent = message.status ?? (message.readByOther ? 'read' : 'sent')
    li.append(mark)
  }
  const list = $('messages')
  list.append(li)
  list.scrollTop = list.scrollHeight
}

function setRead(messageId: string, state: 'delivered' | 'read' = 'read') {
  const mark = document.querySelector(`#messages li[data-id="${CSS.escape(messageId)}"] .state`)
  // read implies delivered: a read message stays read
  if (mark && !(state === 'delivered' && mark.textContent === 'read')) mark.textContent = state
}

async function markRead() {
  const s = state!
  const id = s.selected
  if (!id) return
  const conversation = s.conversations.get(id)
  if (conversation) conversation.unreadCount = 0
  renderConversations()
  await s.stream.markAsRead(id).catch(() => {})
}

function wireForms() {
  $('sign-in').addEventListener('submit', async (event) => {
    event.preventDefault()
    const token = ($('token') as HTMLTextAreaElement).value.trim()
    try {
      $('sign-in-error').textContent = ''
      await signIn(token)
    } catch (error) {
      $('sign-in-error').textContent = (error as Error).message
    }
  })
  $('sign-out').addEventListener('click', () => {
    localStorage.removeItem(TOKEN_KEY)
    state?.stream.close()
    location.reload()
  })
  $('new-chat').addEventListener('submit', async (event) => {
    event.preventDefault()
    const s = state!
    const input = $('new-receiver') as HTMLInputElement
    const { data, error } = await s.api.POST('/api/chat/conversations', {
      body: { participantId: input.value.trim() },
    })
    if (!data) {
      alert(error?.error.message ?? 'Could not open the conversation')
      return
    }
    input.value = ''
    s.conversations.set(data.conversation.id, data.conversation)
    await select(data.conversation.id)
  })
  const messageInput = $('message-input') as HTMLInputElement
  messageInput.addEventListener('input', () => {
    const s = state
    if (!s?.selected || !messageInput.value) return
    if (Date.now() - s.typingSentAt < TYPING_RENEW_MS) return
    s.typingSentAt = Date.now()
    void s.stream.typing(s.selected).catch(() => {})
  })
  $('composer').addEventListener('submit', (event) => {
    event.preventDefault()
    const s = state!
    const content = messageInput.value.trim()
    if (!s.selected || !content) return
    messageInput.value = ''
    s.typingSentAt = 0
    const conversationId = s.selected
    void s.stream.stopTyping(conversationId).catch(() => {})
    // shown when it comes back on the stream (every socket gets its user's own messages)
    s.stream.sendMessage({ conversationId, content }).catch((error: Error) => {
      alert(`Not sent: ${error.message}`)
    })
  })
}

wireForms()
const saved = localStorage.getItem(TOKEN_KEY)
if (saved) {
  ;($('token') as HTMLTextAreaElement).value = saved
  signIn(saved).catch(() => localStorage.removeItem(TOKEN_KEY))
}
