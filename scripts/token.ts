// Prints a development token: npm run token -- <userId> [--role auditor] [--expires 30d]

import { mkdir } from 'node:fs/promises'
import { issueToken } from '../src/edge/auth.ts'
import { loadOrCreateDevSecret } from '../src/services.ts'
import { configFromEnv, parseCommandLine, usageError } from './cli.ts'

const { values, positionals } = parseCommandLine({
  usage: 'npm run -s token -- <userId> [--role auditor|admin] [--expires 30d]',
  help: `
Prints a signed token (HS256) for <userId> on stdout: with JWT_SECRET, or in embedded mode with
the development secret in DATA_DIR/dev-jwt-secret (created if missing).
  --role <role>      the role claim (JWT_ROLE_CLAIM): auditor or admin
  --expires <span>   lifetime, e.g. 15m, 12h, 30d (default 30d)
  -h, --help         this text`,
  allowPositionals: true,
  options: { role: { type: 'string' }, expires: { type: 'string', default: '30d' } },
})
const userId = positionals[0]
if (!userId || positionals.length > 1)
  usageError('usage: npm run -s token -- <userId> (see --help)')
const config = configFromEnv()
let secret = config.JWT_SECRET
if (!secret) {
  if (config.JWT_JWKS_URL) {
    usageError('JWT_JWKS_URL is set: tokens come from your identity provider, not from here')
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
