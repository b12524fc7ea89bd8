// Verifies every hash chain of the event log, the content digests and the erasures, and (with a
// checkpoint) the whole log against a signed tree root:
// npm run audit:verify [-- --file history.ndjson --checkpoint cp.txt --public-key key.jwk]
// (see --help).

import { createReadStream } from 'node:fs'
import { open, readFile, stat } from 'node:fs/promises'
import { type Checkpoint, fromBase64, verifyCheckpoint } from '../src/audit/checkpoints.ts'
import { consistencyProof } from '../src/audit/merkle-tree.ts'
import { nodeHashHex, nodeSha256 } from '../src/audit/node-sha256.ts'
import { describeReport, type VerifyReport, verifyNdjson } from '../src/audit/verify-chain.ts'
import { verifyDatabaseParallel } from '../src/audit/verify-parallel.node.ts'
import {
  checkAgainstCheckpoint,
  checkConsistencyFromTree,
  checkConsistencyProof,
  rebuildFromDatabase,
  type TreeFinding,
  TreeRebuilder,
} from '../src/audit/verify-tree.ts'
import { databaseOptions } from '../src/config.ts'
import { type Database, openDatabase } from '../src/eventstore/database.ts'
import {
  configFromEnv,
  countEvents,
  createProgress,
  type Progress,
  parseCommandLine,
  usageError,
} from './cli.ts'

const { values, positionals } = parseCommandLine({
  usage:
    'npm run audit:verify [-- --file history.ndjson] [--checkpoint cp.txt --public-key key.jwk] [--consistency old.txt new.txt] [--json] [--threads N]',
  help: `
Recomputes every link of every stream's hash chain and every content digest whose content is
present, checks that erasures and UserContentErased events match both ways, and prints the first
broken link (stream, version, what differs) or a summary.
Without --file it reads the database (DATABASE_URL, or the embedded one in DATA_DIR: stop the
server first) and also checks each stream's stored head against its last event.
  -f, --file <path>          verify an NDJSON export (npm run -s audit:export) offline
  --checkpoint <path>        a signed checkpoint (GET /api/audit/checkpoints/latest, as text or
                             JSON): rebuild the Merkle tree from the log or the export and compare
                             its root, so a truncated, reordered or partial history is named. An
                             export that ends with its checkpoint (audit:export --checkpoint) is
                             checked against that one without this option.
  --public-key <path>        the JWK or JWKS of GET /api/audit/public-key (needed with checkpoints)
  --consistency <old> <new>  check that checkpoint <new> extends checkpoint <old>: from the
                             export of --file, else from a proof of --server, else of the database
  --server <url>             with --consistency: ask this server for the proof
  --token <token>            an auditor token for --server (or AUDIT_TOKEN)
  --json                     print the whole report as JSON
  --threads <n>              threads for a PostgreSQL database (default: the number of cores)
  -h, --help                 this text
Progress goes to stderr. Exit code 0: intact; 1: a break; 2: it could not run or a wrong call.`,
  options: {
    file: { type: 'string', short: 'f' },
    checkpoint: { type: 'string' },
    'public-key': { type: 'string' },
    consistency: { type: 'string' },
    server: { type: 'string' },
    token: { type: 'string' },
    json: { type: 'boolean', default: false },
    threads: { type: 'string' },
  },
  allowPositionals: true,
})
const threads = values.threads === undefined ? undefined : Number(values.threads)
if (threads !== undefined && !(Number.isInteger(threads) && threads >= 1)) {
  usageError('--threads: a whole number of at least 1')
}
if (values.consistency !== undefined && positionals.length !== 1) {
  usageError('--consistency needs two checkpoints: --consistency <old> <new>')
}
if (values.consistency === undefined && positionals.length > 0) {
  usageError(`unexpected argument ${positionals[0]} (see --help)`)
}
const wantsCheckpoints = values.checkpoint !== undefined || values.consistency !== undefined
if (wantsCheckpoints && !values['public-key']) {
  usageError("checking a checkpoint needs the log's public key: --public-key <path>")
}

const started = performance.now()
let report: VerifyReport | null = null
const findings: (TreeFinding & { check: string })[] = []
const notes: string[] = []
try {
  const key = values['public-key'] ? await readJson(values['public-key']) : null
  const checkpoint = values.checkpoint ? await readCheckpoint(values.checkpoint, key) : null
  const consistency = values.consistency
    ? {
        earlier: await readCheckpoint(values.consistency, key),
        later: await readCheckpoint(positionals[0]!, key),
      }
    : null
  if (values.file) {
    const trailer = await readTrailer(values.file)
    let cut: Checkpoint | null = checkpoint
    if (trailer && !checkpoint) {
      if (key) cut = await verifyCheckpoint(trailer, key)
      else notes.push('the export ends with a checkpoint: pass --public-key to check against it')
    }
    const sizes = [cut, consistency?.earlier, consistency?.later].flatMap((c) =>
      c ? [c.treeSize] : [],
    )
    const tree = new TreeRebuilder(sizes, nodeSha256)
    const progress = createProgress('verify', (await stat(values.file)).size, 'bytes')
    report = await verifyNdjson(countBytes(createReadStream(values.file), progress), {
      hashHex: nodeHashHex,
      onRecord: (record, line) => tree.add(record.position, record.hash, line),
    })
    progress.finish()
    if (cut) findings.push({ check: 'checkpoint', ...checkAgainstCheckpoint(tree, cut) })
    if (consistency) {
      findings.push({
        check: 'consistency',
        ...checkConsistencyFromTree(tree, consistency.earlier, consistency.later),
      })
    }
  } else if (consistency && values.server) {
    const proof = await proofFromServer(values.server, consistency.earlier, consistency.later)
    findings.push({
      check: 'consistency',
      ...checkConsistencyProof(consistency.earlier, consistency.later, proof),
    })
  } else {
    const config = configFromEnv()
    const db = await openDatabase(databaseOptions(config, 2))
    try {
      if (consistency) {
        const { earlier, later } = consistency
        const proof = await consistencyProof(db.sql, earlier.treeSize, later.treeSize, nodeSha256)
        findings.push({
          check: 'consistency',
          ...checkConsistencyProof(earlier, later, proof.hashes),
        })
      } else {
        report = await verifyDb(db, config.DATABASE_URL, config.DATABASE_SCHEMA)
        if (checkpoint) {
          const tree = new TreeRebuilder([checkpoint.treeSize], nodeSha256)
          const progress = createProgress('tree', await countEvents(db.sql))
          await rebuildFromDatabase(db.sql, tree, (n) => progress.update(n))
          progress.finish()
          findings.push({ check: 'checkpoint', ...checkAgainstCheckpoint(tree, checkpoint) })
        }
      }
    } finally {
      await db.close()
    }
  }
} catch (error) {
  console.error(`audit:verify could not run: ${(error as Error).message}`)
  process.exit(2)
}

const seconds = (performance.now() - started) / 1000
const ok = (report?.ok ?? true) && findings.every((f) => f.ok)
if (values.json) {
  console.log(JSON.stringify({ ok, ...(report ?? {}), findings, notes, seconds }, null, 2))
} else {
  const source = values.file ? `file ${values.file}` : values.server ? values.server : 'database'
  if (report) console.log(describeReport(report))
  for (const f of findings) console.log(`${f.ok ? 'OK' : 'BROKEN'} (${f.check}): ${f.message}`)
  for (const n of notes) console.log(`note: ${n}`)
  console.log(`(${source}, ${seconds.toFixed(2)} s)`)
  if (report && report.breaks.length > 1) {
    console.log(`other broken streams (first ${report.breaks.length - 1} listed):`)
    for (const b of report.breaks.slice(1)) {
      console.log(
        `  stream ${b.streamId ?? '?'} version ${b.version ?? '?'} [${b.kind}]: ${b.message}`,
      )
    }
  }
}
process.exitCode = ok ? 0 : 1

async function verifyDb(db: Database, url: string | undefined, schema: string) {
  const progress = createProgress('verify', await countEvents(db.sql))
  const result = await verifyDatabaseParallel({
    sql: db.sql,
    url,
    schema,
    threads,
    onProgress: (n) => progress.update(n),
  })
  progress.finish()
  return result
}

async function readJson(path: string): Promise<unknown> {
  try {
    return JSON.parse(await readFile(path, 'utf8'))
  } catch (error) {
    throw new Error(`${path}: not a JSON file (${(error as Error).message})`)
  }
}

/** A checkpoint file: the signed note, or the JSON of /checkpoints/latest; its signature checked. */
async function readCheckpoint(path: string, key: unknown): Promise<Checkpoint> {
  const text = await readFile(path, 'utf8')
  const note = text.trimStart().startsWith('{')
    ? (JSON.parse(text) as { checkpoint?: string }).checkpoint
    : text
  if (typeof note !== 'string') throw new Error(`${path}: no checkpoint in this JSON`)
  try {
    return await verifyCheckpoint(note, key)
  } catch (error) {
    console.log(`BROKEN (checkpoint ${path}): ${(error as Error).message}`)
    process.exit(1)
  }
}

/** The `{"checkpoint": …}` line an export may end with (read from the file's last bytes). */
async function readTrailer(path: string): Promise<string | null> {
  const file = await open(path, 'r')
  try {
    const { size } = await file.stat()
    const length = Math.min(size, 64 * 1024)
    const buffer = Buffer.alloc(length)
    await file.read(buffer, 0, length, size - length)
    const last = buffer.toString('utf8').trimEnd().split('\n').at(-1) ?? ''
    if (!last.startsWith('{"checkpoint":')) return null
    const parsed = JSON.parse(last) as { checkpoint?: unknown }
    return typeof parsed.checkpoint === 'string' ? parsed.checkpoint : null
  } finally {
    await file.close()
  }
}

async function proofFromServer(server: string, earlier: Checkpoint, later: Checkpoint) {
  const token = values.token ?? process.env.AUDIT_TOKEN
  if (!token) usageError('--server needs --token (or AUDIT_TOKEN): an auditor token')
  const url = `${server.replace(/\/$/, '')}/api/audit/proofs/consistency?from=${earlier.treeSize}&to=${later.treeSize}`
  const res = await fetch(url, { headers: { authorization: `Bearer ${token}` } })
  if (!res.ok) throw new Error(`${url}: ${res.status} ${await res.text()}`)
  const body = (await res.json()) as { hashes: string[] }
  return body.hashes.map((h) => fromBase64(h)!)
}

async function* countBytes(chunks: AsyncIterable<Buffer>, progress: Progress) {
  let bytes = 0
  for await (const chunk of chunks) {
    bytes += chunk.length
    progress.update(bytes)
    yield chunk
  }
}
