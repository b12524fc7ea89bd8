// Prints a development token: npm run token -- <userId> [--role auditor] [--expires 30d]

import { mkdir } from 'node:fs/promises'
import { parseArgs } from 'node:util'
import { loadConfig } from '../src/config.ts'
import { issueToken } from '../src/edge/auth.ts'
import { loadOrCreateDevSecret } from '../src/services.ts'

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { role: { type: 'string' }, expires: { type: 'string', default: '30d' } },
})
const userId = positionals[0]
if (!userId) {
  console.error('usage: npm run token -- <userId> [--role auditor] [--expires 30d]')
  process.exit(2)
}
const config = loadConfig(process.env)
let secret = config.JWT_SECRET
if (!secret) {
  if (config.JWT_JWKS_URL) {
    console.error('JWT_JWKS_URL is set: tokens come from your identity provider, not from here')
    process.exit(2)
  }
  await mkdir(config.DATA_DIR, { recursive: true })
  secret = await loadOrCreateDevSecret(config.DATA_DIR)
}
console.log(
  await issueToken(secret, userId, {
    role: values.role,
    expiresIn: values.expires,
    roleClaim: config.JWT_ROLE_CLAIM,
    issuer: config.JWT_ISSUER,
    audience: config.JWT_AUDIENCE,
  }),
)
