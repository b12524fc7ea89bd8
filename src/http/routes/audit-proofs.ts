import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi'
import {
  checkpointsAfter,
  latestCheckpoint,
  type StoredCheckpoint,
} from '../../audit/checkpoint-store.ts'
import { type CheckpointSigner, toBase64 } from '../../audit/checkpoints.ts'
import {
  consistencyProof,
  inclusionProof,
  NotInTreeError,
  readTreeHead,
  TreeSizeError,
} from '../../audit/merkle-tree.ts'
import { ApiError, badRequest } from '../../edge/api-error.ts'
import type { Env } from '../../edge/env.ts'
import { requireAuth } from '../../edge/require-auth.ts'
import type { Services } from '../../services.ts'
import { AUDITOR_ROLE, requireRole } from './audit.ts'

const tags = ['audit']
const security = [{ bearerAuth: [] }]

const errorSchema = z.object({
  error: z.object({ code: z.string(), message: z.string(), details: z.unknown().optional() }),
})
const errorResponse = (description: string) => ({
  description,
  content: { 'application/json': { schema: errorSchema } },
})
const errors = {
  400: errorResponse('Invalid request'),
  401: errorResponse('No valid token'),
  403: errorResponse('Not an auditor'),
} as const

const base64Hash = z.string().describe('SHA-256, base64 (RFC 4648 section 4)')
const checkpointSchema = z
  .object({
    treeSize: z.number().int(),
    rootHash: base64Hash,
    issuedAt: z.string(),
    keyId: z.string(),
    checkpoint: z.string().describe('The signed note (C2SP tlog-checkpoint), as issued'),
  })
  .openapi('AuditCheckpoint')
// bounded: a larger number would reach PostgreSQL as an out-of-range bigint (a 500, not a 400)
const size = z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER)

const latestRoute = createRoute({
  method: 'get',
  path: '/checkpoints/latest',
  operationId: 'getLatestAuditCheckpoint',
  tags,
  security,
  summary: 'The latest signed checkpoint of the audit tree (`Accept: text/plain`: the note alone)',
  middleware: [requireRole(AUDITOR_ROLE)] as const,
  responses: {
    200: {
      description: 'The checkpoint',
      content: {
        'application/json': { schema: checkpointSchema },
        'text/plain': { schema: z.string() },
      },
    },
    404: errorResponse('No checkpoint issued yet'),
    ...errors,
  },
})

const listRoute = createRoute({
  method: 'get',
  path: '/checkpoints',
  operationId: 'listAuditCheckpoints',
  tags,
  security,
  summary: 'Checkpoints of trees larger than `after`, smallest first',
  middleware: [requireRole(AUDITOR_ROLE)] as const,
  request: {
    query: z.object({
      after: size.default(0),
      limit: z.coerce.number().int().min(1).max(1000).default(100),
    }),
  },
  responses: {
    200: {
      description: '`{ items, next }`; pass `next` as `after`',
      content: {
        'application/json': {
          schema: z.object({ items: z.array(checkpointSchema), next: z.number().nullable() }),
        },
      },
    },
    ...errors,
  },
})

const publicKeyRoute = createRoute({
  method: 'get',
  path: '/public-key',
  operationId: 'getAuditPublicKey',
  tags,
  security,
  summary: 'The Ed25519 key that signs the checkpoints, as a JWKS',
  middleware: [requireRole(AUDITOR_ROLE)] as const,
  responses: {
    200: {
      description: '`{ keys: [JWK] }`; `kid` is the signed-note key id (hex)',
      content: {
        'application/json': {
          schema: z.object({ keys: z.array(z.record(z.string(), z.string())) }),
        },
      },
    },
    404: errorResponse('No signing key configured (AUDIT_SIGNING_KEY)'),
    ...errors,
  },
})

const inclusionRoute = createRoute({
  method: 'get',
  path: '/proofs/inclusion',
  operationId: 'getAuditInclusionProof',
  tags,
  security,
  summary: 'RFC 9162 inclusion proof of the event at `position` in the tree of `treeSize` leaves',
  middleware: [requireRole(AUDITOR_ROLE)] as const,
  request: {
    query: z.object({
      position: z.coerce.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
      treeSize: size.min(1).optional().describe('Default: the latest checkpoint'),
    }),
  },
  responses: {
    200: {
      description: 'The audit path, leaf first; `rootHash` is the root it leads to',
      content: {
        'application/json': {
          schema: z.object({
            position: z.number().int(),
            leafIndex: z.number().int(),
            treeSize: z.number().int(),
            leafHash: base64Hash,
            rootHash: base64Hash,
            hashes: z.array(base64Hash),
          }),
        },
      },
    },
    404: errorResponse('The event is not in the tree (no such event, or not yet)'),
    ...errors,
  },
})

const consistencyRoute = createRoute({
  method: 'get',
  path: '/proofs/consistency',
  operationId: 'getAuditConsistencyProof',
  tags,
  security,
  summary: 'RFC 9162 consistency proof between the trees of `from` and `to` leaves',
  middleware: [requireRole(AUDITOR_ROLE)] as const,
  request: { query: z.object({ from: size, to: size }) },
  responses: {
    200: {
      description: 'The proof; `fromRoot` and `toRoot` are the roots it links',
      content: {
        'application/json': {
          schema: z.object({
            from: z.number().int(),
            to: z.number().int(),
            fromRoot: base64Hash,
            toRoot: base64Hash,
            hashes: z.array(base64Hash),
          }),
        },
      },
    },
    ...errors,
  },
})

const view = (c: StoredCheckpoint) => ({
  treeSize: c.treeSize,
  rootHash: toBase64(c.rootHash),
  issuedAt: c.issuedAt,
  keyId: c.keyId,
  checkpoint: c.text,
})

/**
 * The audit tree under /api/audit: signed checkpoints, the key that signs them, and inclusion and
 * consistency proofs read from the stored tree (docs/audit-format.md). Auditors only.
 */
export function auditProofRoutes(services: Services, signer: CheckpointSigner | null) {
  const { sql } = services.db
  const proofs = new OpenAPIHono<Env>({
    defaultHook: (result) => {
      if (!result.success) {
        throw new ApiError(400, 'invalid_request', 'The request is invalid', result.error.issues)
      }
    },
  })
  proofs.use('*', requireAuth(services.verifyToken))

  proofs.openapi(latestRoute, async (c) => {
    const latest = await latestCheckpoint(sql)
    if (!latest) throw await noCheckpoint(signer)
    if (c.req.header('accept')?.includes('text/plain')) {
      return c.text(latest.text, 200) as never
    }
    return c.json(view(latest), 200)
  })

  proofs.openapi(listRoute, async (c) => {
    const { after, limit } = c.req.valid('query')
    const items = await checkpointsAfter(sql, after, limit)
    const next = items.length === limit ? items.at(-1)!.treeSize : null
    return c.json({ items: items.map(view), next }, 200)
  })

  proofs.openapi(publicKeyRoute, (c) => {
    if (!signer) throw noKey()
    return c.json({ keys: [signer.publicJwk] }, 200)
  })

  proofs.openapi(inclusionRoute, async (c) => {
    const q = c.req.valid('query')
    let treeSize = q.treeSize
    if (treeSize === undefined) {
      const latest = await latestCheckpoint(sql)
      if (!latest) throw await noCheckpoint(signer)
      treeSize = latest.treeSize
    }
    try {
      const p = await inclusionProof(sql, q.position, treeSize)
      return c.json(
        {
          position: p.position,
          leafIndex: p.leafIndex,
          treeSize: p.treeSize,
          leafHash: toBase64(p.leafHash),
          rootHash: toBase64(p.rootHash),
          hashes: p.hashes.map(toBase64),
        },
        200,
      )
    } catch (error) {
      throw asApiError(error)
    }
  })

  proofs.openapi(consistencyRoute, async (c) => {
    const { from, to } = c.req.valid('query')
    try {
      const p = await consistencyProof(sql, from, to)
      return c.json(
        {
          from,
          to,
          fromRoot: toBase64(p.fromRoot),
          toRoot: toBase64(p.toRoot),
          hashes: p.hashes.map(toBase64),
        },
        200,
      )
    } catch (error) {
      throw asApiError(error)
    }
  })

  return function mountAuditProofs(app: OpenAPIHono<Env>) {
    app.route('/api/audit', proofs)
  }

  async function noCheckpoint(keyed: CheckpointSigner | null) {
    const { size } = await readTreeHead(sql)
    return new ApiError(
      404,
      'not_found',
      keyed
        ? `No checkpoint issued yet (the tree has ${size} events; one is issued within AUDIT_CHECKPOINT_INTERVAL_MS of the log growing)`
        : 'No checkpoint is issued: the server has no AUDIT_SIGNING_KEY',
    )
  }
}

const noKey = () =>
  new ApiError(404, 'not_found', 'No checkpoint signing key is configured (AUDIT_SIGNING_KEY)')

function asApiError(error: unknown) {
  if (error instanceof NotInTreeError) return new ApiError(404, 'not_found', error.message)
  if (error instanceof TreeSizeError) return badRequest(error.message)
  return error
}
