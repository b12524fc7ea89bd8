import { bytesToHex } from '@noble/hashes/utils.js'
import type { Queryable, Sql } from '../eventstore/sql.ts'
import { type Checkpoint, type CheckpointSigner, signCheckpoint } from './checkpoints.ts'
import type { Sha256 } from './merkle.ts'
import { readTreeHead, rootAt, takeTreeLease } from './merkle-tree.ts'

export type StoredCheckpoint = Checkpoint & { keyId: string }

type Row = {
  tree_size: string
  root_hash: Uint8Array
  issued_at: Date
  key_id: string
  note: string
}

const toCheckpoint = (r: Row): StoredCheckpoint => ({
  origin: r.note.slice(0, r.note.indexOf('\n')),
  treeSize: Number(r.tree_size),
  rootHash: new Uint8Array(r.root_hash),
  issuedAt: r.issued_at.toISOString(),
  keyId: r.key_id,
  text: r.note,
})

export type IssueOptions = {
  now: Date
  /** No checkpoint sooner than this after the last one. */
  minIntervalMs: number
  hash?: Sha256
}

/**
 * Signs and stores a checkpoint of the tree as it stands, if the tree grew since the last one and
 * the interval has passed. Under the tree lease, so two processes never sign different roots (and
 * the tree size is the key: one checkpoint per size). Null when nothing was issued.
 */
export async function issueCheckpoint(
  sql: Sql,
  signer: CheckpointSigner,
  { now, minIntervalMs, hash }: IssueOptions,
): Promise<StoredCheckpoint | null> {
  return sql.begin(async (tx) => {
    if (!(await takeTreeLease(tx))) return null
    const { size } = await readTreeHead(tx)
    const last = await latestCheckpoint(tx)
    if (size === 0 || (last && size <= last.treeSize)) return null
    if (last && now.getTime() - Date.parse(last.issuedAt) < minIntervalMs) return null
    const issuedAt = new Date(Math.max(now.getTime(), last ? Date.parse(last.issuedAt) : 0))
    const checkpoint = await signCheckpoint(signer, {
      treeSize: size,
      rootHash: await rootAt(tx, size, hash),
      issuedAt: issuedAt.toISOString(),
    })
    await tx`
      insert into audit_checkpoints (tree_size, root_hash, issued_at, key_id, note)
      values (${size}, decode(${bytesToHex(checkpoint.rootHash)}, 'hex'), ${checkpoint.issuedAt},
        ${signer.keyId}, ${checkpoint.text})`
    return { ...checkpoint, keyId: signer.keyId }
  })
}

/** The checkpoint of the largest tree, or null before the first. */
export async function latestCheckpoint(sql: Queryable): Promise<StoredCheckpoint | null> {
  const [row] = await sql<Row[]>`
    select tree_size, root_hash, issued_at, key_id, note from audit_checkpoints
    order by tree_size desc limit 1`
  return row ? toCheckpoint(row) : null
}

/** The checkpoints of trees larger than `afterSize`, smallest first. */
export async function checkpointsAfter(
  sql: Queryable,
  afterSize: number,
  limit: number,
): Promise<StoredCheckpoint[]> {
  const rows = await sql<Row[]>`
    select tree_size, root_hash, issued_at, key_id, note from audit_checkpoints
    where tree_size > ${afterSize} order by tree_size limit ${limit}`
  return rows.map(toCheckpoint)
}

/** The checkpoint of exactly this tree size, if one was issued. */
export async function checkpointOfSize(
  sql: Queryable,
  treeSize: number,
): Promise<StoredCheckpoint | null> {
  const [row] = await sql<Row[]>`
    select tree_size, root_hash, issued_at, key_id, note from audit_checkpoints
    where tree_size = ${treeSize}`
  return row ? toCheckpoint(row) : null
}
