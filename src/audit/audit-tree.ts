import type { Config } from '../config.ts'
import type { Database } from '../eventstore/database.ts'
import type { Logger } from '../logger.ts'
import type { CheckpointSigner } from './checkpoints.ts'
import type { Sha256 } from './merkle.ts'
import { loadCheckpointSigner } from './signing-key.ts'
import { TreeKeeper } from './tree-keeper.ts'

export type AuditTree = { keeper: TreeKeeper; signer: CheckpointSigner | null }

/**
 * Starts keeping the audit tree and its checkpoints for this process (any number of processes
 * may: the lease lets one work at a time). Says at start which key signs, or that none does.
 */
export async function startAuditTree(
  services: {
    config: Config
    db: Database
    log: Logger
    clock: () => Date
  },
  options: {
    /** The SHA-256 of the tree (the entry point on Node passes the native one, about 10% faster). */
    hash?: Sha256
    /**
     * The tree is fed with what a reader of the log in this process reads (`keeper.feed`)
     * instead of reading `events` again; see TreeKeeper.
     */
    fed?: boolean
  } = {},
): Promise<AuditTree> {
  const { config, db, log } = services
  const loaded = await loadCheckpointSigner(config, db.mode)
  if (!loaded) {
    log.warn('no AUDIT_SIGNING_KEY: the audit tree is kept, but no checkpoint is signed')
  } else if (loaded.development) {
    log.warn('no AUDIT_SIGNING_KEY: checkpoints are signed with a development key in DATA_DIR', {
      keyId: loaded.signer.keyId,
    })
  }
  const signer = loaded?.signer ?? null
  const keeper = new TreeKeeper({
    sql: db.sql,
    signals: db.signals,
    log,
    signer,
    checkpointIntervalMs: config.AUDIT_CHECKPOINT_INTERVAL_MS,
    clock: services.clock,
    hash: options.hash,
    fed: options.fed,
    // embedded mode has one connection for everything: shorter and rarer turns, so that commands
    // and the log follower seldom wait behind the tree
    batchSize: db.mode === 'embedded' ? 1_000 : 10_000,
    minGapMs: db.mode === 'embedded' ? 1_000 : 200,
  })
  await keeper.start()
  return { keeper, signer }
}
