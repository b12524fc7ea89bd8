import { LOG_CHANNEL } from '../eventstore/log-notifier.ts'
import type { Signals } from '../eventstore/signals.ts'
import type { Sql } from '../eventstore/sql.ts'
import type { Logger } from '../logger.ts'
import { issueCheckpoint, latestCheckpoint, type StoredCheckpoint } from './checkpoint-store.ts'
import type { CheckpointSigner } from './checkpoints.ts'
import type { Sha256 } from './merkle.ts'
import { extendTree } from './merkle-tree.ts'

export type TreeKeeperOptions = {
  sql: Sql
  signals: Signals
  log: Logger
  /** Without a signer the tree is kept but no checkpoint is issued. */
  signer: CheckpointSigner | null
  /** A checkpoint at most this often, and only when the tree grew. */
  checkpointIntervalMs: number
  clock?: () => Date
  hash?: Sha256
  /** Least pause between two turns, so a busy log costs a turn per pause, not per commit. */
  minGapMs?: number
  /** Events per tree transaction (smaller in embedded mode, whose one connection it holds). */
  batchSize?: number
}

/**
 * Keeps the audit tree up with the log, after commit and off every command's path: woken by the
 * "log grew" signal (and a timer, for lost signals and for checkpoints), it extends the tree
 * under the lease (another process holding it is doing the work) and issues a checkpoint when one
 * is due.
 */
export class TreeKeeper {
  private running: Promise<void> | null = null
  private dirty = false
  private stopped = false
  private unsubscribe: (() => void) | null = null
  private timer: ReturnType<typeof setInterval> | null = null
  private readonly clock: () => Date

  constructor(private readonly options: TreeKeeperOptions) {
    this.clock = options.clock ?? (() => new Date())
  }

  async start(): Promise<void> {
    this.unsubscribe = await this.options.signals.subscribe(
      LOG_CHANNEL,
      () => this.wake(),
      () => this.wake(),
    )
    const every = Math.min(this.options.checkpointIntervalMs, 10_000)
    this.timer = setInterval(() => this.wake(), every)
    this.timer.unref?.()
    this.wake()
  }

  /**
   * Asks for a turn after a short pause (`minGapMs`): a burst of commits costs one turn, and the
   * turn's brief writing transaction (which holds the cluster-wide read horizon of the log
   * followers for its few milliseconds) does not run at every commit.
   */
  wake(): void {
    if (this.stopped) return
    this.dirty = true
    if (this.running || this.delay) return
    this.delay = setTimeout(() => {
      this.delay = null
      if (this.stopped) return
      this.running = this.run().finally(() => {
        this.running = null
        if (this.dirty && !this.stopped) this.wake()
      })
    }, this.options.minGapMs ?? 200)
    this.delay.unref?.()
  }

  private delay: ReturnType<typeof setTimeout> | null = null

  /** Resolves when no turn is running. */
  async idle(): Promise<void> {
    while (this.running) await this.running
  }

  async stop(): Promise<void> {
    this.stopped = true
    if (this.timer) clearInterval(this.timer)
    if (this.delay) clearTimeout(this.delay)
    this.unsubscribe?.()
    await this.idle()
  }

  /**
   * One turn now: extends the tree to the log's horizon, then issues a checkpoint if due
   * (`force`: whatever the interval). Returns the checkpoint issued, if any.
   */
  async turn(force = false): Promise<StoredCheckpoint | null> {
    const { sql, signer, hash, batchSize, checkpointIntervalMs } = this.options
    const { size } = await extendTree(sql, { hash, batchSize })
    if (!signer) return null
    const now = this.clock()
    if (!force) {
      // most turns have nothing to sign: tell without a transaction (the issuer checks again)
      const latest = await latestCheckpoint(sql)
      const due = !latest || now.getTime() - Date.parse(latest.issuedAt) >= checkpointIntervalMs
      if (!due || (latest && size !== 0 && size <= latest.treeSize)) return null
    }
    return issueCheckpoint(sql, signer, {
      now,
      minIntervalMs: force ? 0 : checkpointIntervalMs,
      hash,
    })
  }

  private async run(): Promise<void> {
    this.dirty = false
    try {
      const issued = await this.turn()
      if (issued) this.options.log.debug('audit checkpoint issued', { treeSize: issued.treeSize })
    } catch (error) {
      if (this.stopped) return
      this.options.log.error('audit tree turn failed; retrying on the next wake-up', { error })
    }
  }
}
