// Over 300 lines on purpose: the hub is the one owner of this process's socket indexes (by
// user, by joined conversation, attaching) and every part here (placing, catching up, routing
// events and signals) reads or changes them; split, they would have to share those maps.
import { conversationLog, type RecordedEvent } from '../conversation-log.ts'
import type { AuthUser } from '../edge/auth.ts'
import { isDatabaseUnavailable } from '../eventstore/database-errors.ts'
import { cursorOf, isAfter, type LogCursor } from '../eventstore/event-store.ts'
import { followerLag } from '../eventstore/follower-lag.ts'
import type { Logger } from '../logger.ts'
import type { PresenceChange } from '../presence/presence-tracker.ts'
import { currentConversationsOf } from '../projections/contacts.ts'
import { findMembership } from '../projections/members.ts'
import type { Services } from '../services.ts'
import { Connection, type ConnectionHost } from './connection.ts'
import { type MutedFor, type OutgoingEvent, prepareEvents } from './event-frames.ts'
import { FanoutFollower } from './fanout-follower.ts'
import type { Fanout } from './fanout-wire.ts'
import { dispatchFrame, type FrameDeps } from './frame-dispatch.ts'
import { LogFollower, type LogTap } from './log-follower.ts'
import { canSee, leavingUserId, MembershipCache, type MemberWindow } from './membership-cache.ts'
import { CloseCode, type PresenceFrame, type SignalFrame } from './protocol.ts'
import type { Transport } from './transport.ts'
import { TypingTracker } from './typing-tracker.ts'
import { UserSettingsCache } from './user-settings-cache.ts'

/** Ephemeral signals (typing, joins) travel here; never on the log channel. */
export const SIGNAL_CHANNEL = 'realtime'
const BACKLOG_PAGE = 500

type SignalKind = 'typing' | 'stop' | 'join' | 'leave'
type Signal = { k: SignalKind; c: string; u: string }

export type HubOptions = {
  services: Services
  /** Safety-net poll of the log follower. */
  pollIntervalMs?: number
  /** Fan-out through NATS (FANOUT_URL): the relay's feed replaces following the log here. */
  fanout?: Fanout | null
  /** Sees what this process's log follower reads (not with fan-out: the relay reads then). */
  onRead?: LogTap
}

/**
 * The real-time side of one process: the log follower, the sockets connected here, and the
 * routing of each logged event and each ephemeral signal to the sockets allowed to see it.
 */
export class Hub {
  readonly services: Services
  readonly log: Logger
  readonly maxBufferedBytes: number
  readonly typingTimeoutMs: number
  private readonly follower: LogFollower | FanoutFollower
  private readonly cache = new MembershipCache()
  /** Blocks and mutes of the users connected here (typing hidden, notifications muted). */
  private readonly settings = new UserSettingsCache()
  private readonly mutedFor: MutedFor = (u, c, at) => this.settings.isMuted(u, c, at)
  private readonly connections = new Set<Connection>()
  private readonly byUser = new Map<string, Set<Connection>>()
  private readonly joinedIndex = new Map<string, Set<Connection>>()
  private attaching: Connection[] = []
  private readonly catchUps = new Set<Promise<void>>()
  private readonly typing: TypingTracker
  private accepting = false
  private pingTimer: ReturnType<typeof setInterval> | null = null
  private unsubscribeSignals: (() => void) | null = null
  private unsubscribePresence: (() => void) | null = null
  private presenceQueue: PresenceChange[] = []
  private presenceDrain: Promise<void> | null = null
  /** What each connection gets: its limits, the log, and the frame handling (not the hub). */
  private readonly connectionHost: ConnectionHost

  constructor(options: HubOptions) {
    const { services } = options
    this.services = services
    this.log = services.log.child({ component: 'realtime' })
    this.maxBufferedBytes = services.config.WS_MAX_BUFFERED_BYTES
    this.typingTimeoutMs = services.config.TYPING_TIMEOUT_MS
    this.typing = new TypingTracker(this.typingTimeoutMs, (c, u) =>
      this.toMembers(c, u, 'user_stopped_typing'),
    )
    const frameDeps: FrameDeps = {
      app: services.app,
      typingTimeoutMs: this.typingTimeoutMs,
      isCurrentMember: (c, u) => this.isCurrentMember(c, u),
      publishSignal: (k, c, u) => this.publishSignal(k, c, u),
      joinConversation: (conn, c) => this.joinConversation(conn, c),
      leaveConversation: (conn, c) => this.leaveConversation(conn, c),
    }
    this.connectionHost = {
      maxBufferedBytes: this.maxBufferedBytes,
      log: this.log,
      handleFrame: (conn, frame) => dispatchFrame(frameDeps, conn, frame),
      countFrame: (direction, type) => {
        if (direction === 'out') services.metrics.wsFramesOut.inc()
        else services.metrics.wsFramesIn.inc({ type: type ?? 'unknown' })
      },
    }
    const feed = {
      sql: services.db.follower ?? services.db.sql,
      signals: services.db.signals,
      log: this.log,
      afterRead: () => this.placeAttaching(),
      onEvents: (events: RecordedEvent[]) => this.route(events),
    }
    this.follower = options.fanout
      ? new FanoutFollower({
          ...feed,
          fanout: options.fanout,
          follows: this.cache.follows,
          followed: this.cache.followed,
          followedChanges: this.cache.followedChanges,
          onSignal: (p) => this.onSignal(p),
        })
      : new LogFollower({
          ...feed,
          pollIntervalMs: options.pollIntervalMs,
          retryHeldBack: services.db.mode === 'postgres',
          onRead: options.onRead,
          onWake: (reason) => services.metrics.logWakes.inc({ reason }),
        })
    services.metrics.setSocketProbe(() => this.connections.size)
    services.metrics.setLagProbe(() => this.followerLag())
  }

  /** How far this process's follower is behind the committed log (events, seconds). */
  followerLag(): Promise<{ events: number; seconds: number }> {
    return followerLag(this.follower.reader, this.follower.cursor)
  }

  async start(): Promise<void> {
    this.unsubscribeSignals = await this.services.db.signals.subscribe(SIGNAL_CHANNEL, (p) =>
      this.onSignal(p),
    )
    this.unsubscribePresence = this.services.presence.onChange((change) => this.onPresence(change))
    await this.follower.start()
    const interval = this.services.config.WS_PING_INTERVAL_MS
    let lastTick = performance.now()
    this.pingTimer = setInterval(() => {
      // A tick this late means the event loop was busy (a long query on the embedded database, a
      // GC pause): overdue timers run before the sockets are read, so a pong that arrived
      // meanwhile is still unread. This round pings no one and drops no one.
      const now = performance.now()
      const late = now - lastTick > interval * 1.5
      lastTick = now
      if (late) return
      for (const conn of this.connections) conn.heartbeat()
    }, interval)
    this.pingTimer.unref?.()
    this.accepting = true
  }

  get isAccepting(): boolean {
    return this.accepting
  }

  /** The follower's place in the log (for tests and diagnostics). */
  get cursor(): LogCursor {
    return this.follower.cursor
  }

  /** The user has an open socket on this process (presence: `services.presence`). */
  hasSockets(userId: string): boolean {
    return this.byUser.has(userId)
  }

  stats() {
    return { connections: this.connections.size, ...this.cache.size }
  }

  /**
   * A socket opened for `user`. It is placed in the log at the follower's next turn: with
   * `since`, its backlog goes out first, then `ready`, then live events. Commands sent on it
   * carry `correlationId` (the id of the upgrade request). `joins`: conversations to join when
   * it is placed, before its backlog (those the user is not in are left out).
   */
  open(
    user: AuthUser,
    since: LogCursor | null,
    transport: Transport,
    correlationId: string,
    joins: readonly string[] = [],
  ): Connection {
    const conn = new Connection(user, since, transport, this.connectionHost, correlationId)
    conn.joinsAtPlacement = joins
    if (!this.accepting) {
      conn.close(CloseCode.goingAway, 'server shutting down')
      return conn
    }
    this.connections.add(conn)
    let mine = this.byUser.get(user.id)
    if (!mine) {
      mine = new Set()
      this.byUser.set(user.id, mine)
      this.cache.track(user.id)
      this.settings.track(user.id)
    }
    mine.add(conn)
    this.services.presence.opened(user.id)
    this.attaching.push(conn)
    this.follower.wake()
    return conn
  }

  /** The socket of `conn` closed. */
  onClose(conn: Connection): void {
    if (conn.closed) return
    conn.onClosed()
    if (!this.connections.delete(conn)) return
    const userId = conn.user.id
    this.services.presence.closed(userId)
    const mine = this.byUser.get(userId)
    mine?.delete(conn)
    if (mine && mine.size === 0) {
      this.byUser.delete(userId)
      this.cache.untrack(userId)
      this.settings.untrack(userId)
    }
    for (const conversationId of [...conn.joined]) {
      this.leaveConversation(conn, conversationId)
      if (!this.userJoinedHere(userId, conversationId)) {
        void this.publishSignal('leave', conversationId, userId)
      }
    }
    for (const conversationId of conn.typingIn.keys()) {
      void this.publishSignal('stop', conversationId, userId)
    }
  }

  /**
   * Joins `conn` to a conversation its user is in (checked by the caller) and tells the other
   * members' sockets; a conversation it has joined already is left as it is.
   */
  async joinConversation(conn: Connection, conversationId: string): Promise<void> {
    if (conn.joined.has(conversationId)) return
    conn.join(conversationId)
    let set = this.joinedIndex.get(conversationId)
    if (!set) {
      set = new Set()
      this.joinedIndex.set(conversationId, set)
    }
    set.add(conn)
    await this.publishSignal('join', conversationId, conn.user.id)
  }

  leaveConversation(conn: Connection, conversationId: string): void {
    conn.leave(conversationId)
    const set = this.joinedIndex.get(conversationId)
    set?.delete(conn)
    if (set?.size === 0) this.joinedIndex.delete(conversationId)
  }

  /** Whether the user is in the conversation now: from the cache, else the read model. */
  async isCurrentMember(conversationId: string, userId: string): Promise<boolean> {
    if (this.cache.isCurrentMember(conversationId, userId)) return true
    const m = await findMembership(this.services.db.sql, conversationId, userId)
    return m !== null && m.leftVersion === null
  }

  /** Sends an ephemeral signal to every process (this one included, in memory). */
  async publishSignal(k: SignalKind, c: string, u: string): Promise<void> {
    try {
      const payload = JSON.stringify({ k, c, u })
      if (this.follower instanceof FanoutFollower && this.follower.publishSignal(c, payload)) return
      await this.services.db.signals.publish(SIGNAL_CHANNEL, payload)
    } catch (error) {
      this.log.warn('could not publish a signal', { error, kind: k })
    }
  }

  /**
   * Shutdown, first half: refuse new sockets, let the frames being handled finish (their acks
   * go out: an acknowledged message is committed), close every socket with 1001, and drop the
   * sockets that have not finished their closing handshake after `graceMs`.
   */
  async closeSockets(graceMs = 3000): Promise<void> {
    this.accepting = false
    const open = [...this.connections]
    await Promise.allSettled(open.map((c) => c.drain()))
    for (const conn of open) conn.close(CloseCode.goingAway, 'server shutting down')
    const deadline = Date.now() + graceMs
    while (this.connections.size > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    for (const conn of this.connections) conn.terminate()
  }

  /** Shutdown, second half: stop following the log and listening for signals. */
  async stop(): Promise<void> {
    this.accepting = false
    if (this.pingTimer) clearInterval(this.pingTimer)
    this.unsubscribeSignals?.()
    this.unsubscribePresence?.()
    this.typing.clear()
    await this.presenceDrain
    await this.follower.stop()
    await Promise.allSettled([...this.catchUps])
  }

  /** In the follower's turn, after it read all it can see: places new sockets at its cursor. */
  private async placeAttaching(): Promise<void> {
    if (this.attaching.length === 0) return
    const batch = this.attaching
    this.attaching = []
    try {
      await this.cache.load(this.follower.reader)
      await this.settings.load(this.follower.reader)
    } catch (error) {
      // the database is away: these sockets are placed at the next turn that succeeds
      this.attaching.unshift(...batch)
      throw error
    }
    const at = this.follower.cursor
    for (const conn of batch) {
      if (conn.closed) continue
      this.joinAtPlacement(conn)
      if (!conn.since || !isAfter(at, conn.since)) {
        conn.goLive(at)
        continue
      }
      conn.startCatchUp()
      const windows = this.cache.windowsOf(conn.user.id)
      const task = this.catchUp(conn, conn.since, at, windows).finally(() => {
        this.catchUps.delete(task)
      })
      this.catchUps.add(task)
    }
  }

  /**
   * Joins the conversations the socket asked for at connect that its user is in now (as the
   * cache knows them at the follower's cursor, where the socket is placed).
   */
  private joinAtPlacement(conn: Connection): void {
    for (const conversationId of conn.joinsAtPlacement) {
      if (this.cache.isCurrentMember(conversationId, conn.user.id) === true) {
        void this.joinConversation(conn, conversationId)
      }
    }
  }

  /** Sends a resuming socket the events it may see in (from, until], page by page. */
  private async catchUp(
    conn: Connection,
    from: LogCursor,
    until: LogCursor,
    windows: Map<string, MemberWindow>,
  ): Promise<void> {
    const { sql } = this.services.db
    const streamIds = [...windows.keys()]
    let after = from
    try {
      for (;;) {
        const page = await conversationLog.readAllOfStreams(sql, {
          after,
          until,
          streamIds,
          limit: BACKLOG_PAGE,
        })
        const visible = page.filter((e) => {
          const window = windows.get(e.streamId)
          return window !== undefined && canSee(window, e, conn.user.id)
        })
        for (const out of await prepareEvents(sql, visible, this.cache.kindOf, this.mutedFor)) {
          if (out) conn.sendEvent(out)
        }
        if (conn.closed || page.length < BACKLOG_PAGE) break
        after = cursorOf(page.at(-1)!)
        await conn.drained()
      }
      conn.finishCatchUp(until)
    } catch (error) {
      if (isDatabaseUnavailable(error)) {
        this.log.warn('backlog failed: database unavailable', { connection: conn.id })
        conn.close(CloseCode.unavailable, 'database unavailable; reconnect with since')
        return
      }
      this.log.error('backlog failed', { error, connection: conn.id })
      conn.close(1011, 'backlog failed; reconnect with since')
    }
  }

  /** Routes a batch of log events, in log order, to the sockets allowed to see each. */
  private async route(events: RecordedEvent[]): Promise<void> {
    this.services.metrics.eventsDelivered.inc(events.length)
    const prepared = await prepareEvents(
      this.follower.reader,
      events,
      this.cache.kindOf,
      this.mutedFor,
    )
    events.forEach((event, i) => {
      this.cache.apply(event)
      this.settings.apply(event)
      const out = prepared[i]
      if (out) this.deliver(event, out)
    })
  }

  private deliver(event: RecordedEvent, out: OutgoingEvent) {
    for (const userId of this.cache.recipients(event)) {
      const mine = this.byUser.get(userId)
      if (!mine) continue
      for (const conn of mine) conn.deliver(out)
    }
    const gone = leavingUserId(event)
    if (gone !== null) {
      // a removed member's sockets stop receiving the conversation at once
      for (const conn of this.byUser.get(gone) ?? []) {
        this.leaveConversation(conn, event.streamId)
      }
    }
  }

  private onSignal(payload: string) {
    let signal: Signal
    try {
      signal = JSON.parse(payload)
    } catch {
      return
    }
    const { k, c, u } = signal
    switch (k) {
      case 'typing':
        if (this.typing.start(c, u)) this.toMembers(c, u, 'user_typing')
        return
      case 'stop':
        if (this.typing.stop(c, u)) this.toMembers(c, u, 'user_stopped_typing')
        return
      case 'join':
        this.toJoined(c, u, 'user_joined')
        return
      case 'leave':
        this.toJoined(c, u, 'user_left')
        return
      default:
        return
    }
  }

  /** To the sockets here of the conversation's other current participants. */
  private toMembers(conversationId: string, userId: string, type: SignalFrame['type']) {
    const text = JSON.stringify({ type, conversationId, userId } satisfies SignalFrame)
    for (const member of this.cache.currentMembers(conversationId)) {
      if (member === userId) continue
      // a blocked user's typing is not shown to the one who blocks them
      if (type !== 'user_stopped_typing' && this.settings.blocks(member, userId)) continue
      for (const conn of this.byUser.get(member) ?? []) {
        if (conn.state !== 'attaching') {
          conn.sendText(text)
          this.services.metrics.ephemeralFanout.inc({ kind: type })
        }
      }
    }
  }

  /** To the sockets here of other users that joined the conversation. */
  private toJoined(conversationId: string, userId: string, type: SignalFrame['type']) {
    const text = JSON.stringify({ type, conversationId, userId } satisfies SignalFrame)
    for (const conn of this.joinedIndex.get(conversationId) ?? []) {
      if (conn.user.id !== userId) {
        conn.sendText(text)
        this.services.metrics.ephemeralFanout.inc({ kind: type })
      }
    }
  }

  /** A presence change (of any process's user): queued, sent in order by one drain at a time. */
  private onPresence(change: PresenceChange) {
    if (this.byUser.size === 0) return
    this.presenceQueue.push(change)
    this.presenceDrain ??= this.drainPresence().finally(() => {
      this.presenceDrain = null
    })
  }

  private async drainPresence() {
    while (this.presenceQueue.length > 0) {
      const batch = this.presenceQueue
      this.presenceQueue = []
      try {
        await this.sendPresence(batch)
      } catch (error) {
        this.log.warn('could not send presence changes', { error, changes: batch.length })
      }
    }
  }

  /**
   * To the sockets here of the users who share a conversation with each changed user now (one
   * query for the batch: the changed users' conversations; the viewers come from the cache).
   */
  private async sendPresence(batch: PresenceChange[]) {
    const { presence, metrics } = this.services
    const subjects = [...new Set(batch.map((c) => c.userId))]
    const conversations = await currentConversationsOf(this.services.db.sql, subjects)
    const viewersOf = new Map<PresenceChange, Set<string>>()
    for (const change of batch) {
      const viewers = new Set<string>()
      for (const conversationId of conversations.get(change.userId) ?? []) {
        for (const member of this.cache.currentMembers(conversationId)) {
          if (member !== change.userId && this.byUser.has(member)) viewers.add(member)
        }
      }
      viewersOf.set(change, viewers)
    }
    // one question to the policy for every viewer of every change of the batch
    const pairs = [...viewersOf].flatMap(([change, viewers]) =>
      [...viewers].map((viewerId) => ({ viewerId, subjectId: change.userId })),
    )
    const hidden = new Set(
      (pairs.length ? await presence.policy.hiddenPairs(pairs) : []).map(
        (p) => `${p.viewerId}\u0000${p.subjectId}`,
      ),
    )
    for (const [change, viewers] of viewersOf) {
      const text = JSON.stringify({ type: 'presence', ...change } satisfies PresenceFrame)
      for (const viewer of viewers) {
        if (hidden.has(`${viewer}\u0000${change.userId}`)) continue
        for (const conn of this.byUser.get(viewer) ?? []) {
          if (conn.state === 'attaching') continue
          conn.sendText(text)
          metrics.ephemeralFanout.inc({ kind: 'presence' })
        }
      }
    }
  }

  private userJoinedHere(userId: string, conversationId: string): boolean {
    for (const conn of this.byUser.get(userId) ?? [])
      if (conn.joined.has(conversationId)) return true
    return false
  }
}
