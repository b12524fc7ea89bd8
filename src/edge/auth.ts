import { createRemoteJWKSet, type JWTPayload, type JWTVerifyGetKey, jwtVerify, SignJWT } from 'jose'
import { isPrintable } from '../domain/safe-text.ts'
import { ApiError } from './api-error.ts'

export type AuthUser = { id: string; role: string | null; expiresAt: number | null }

export type AuthOptions = {
  /** HS256 secret; or */
  secret?: string
  /** a JWKS URL for RS256/ES256 keys. */
  jwksUrl?: string
  issuer?: string
  audience?: string
  roleClaim?: string
}

export type TokenVerifier = (token: string) => Promise<AuthUser>

const CLOCK_TOLERANCE_SECONDS = 5

export class AuthError extends ApiError {
  constructor(message: string) {
    super(401, 'unauthorized', message, undefined, { 'WWW-Authenticate': 'Bearer' })
    this.name = 'AuthError'
  }
}

/** Verifies bearer tokens with jose: signature, algorithm whitelist, exp/nbf, issuer, audience. */
export function createTokenVerifier(options: AuthOptions): TokenVerifier {
  const roleClaim = options.roleClaim ?? 'role'
  let key: Uint8Array | JWTVerifyGetKey
  let algorithms: string[]
  if (options.jwksUrl) {
    key = createRemoteJWKSet(new URL(options.jwksUrl))
    algorithms = ['RS256', 'ES256']
  } else if (options.secret) {
    key = new TextEncoder().encode(options.secret)
    algorithms = ['HS256']
  } else {
    throw new Error('Set JWT_SECRET or JWT_JWKS_URL')
  }
  return async (token) => {
    let payload: JWTPayload
    try {
      ;({ payload } = await jwtVerify(token, key as Uint8Array, {
        algorithms,
        issuer: options.issuer,
        audience: options.audience,
        clockTolerance: CLOCK_TOLERANCE_SECONDS,
      }))
    } catch (error) {
      const code = (error as { code?: string }).code
      throw new AuthError(
        code === 'ERR_JWT_EXPIRED' ? 'The token has expired' : 'The token is invalid',
      )
    }
    const sub = payload.sub as unknown
    if ((typeof sub !== 'string' && typeof sub !== 'number') || String(sub).length === 0) {
      throw new AuthError('The token has no subject (sub)')
    }
    if (String(sub).length > 128) throw new AuthError('The token subject is too long')
    if (!isPrintable(String(sub))) {
      throw new AuthError('The token subject (sub) contains control characters or broken text')
    }
    const role = payload[roleClaim]
    return {
      id: String(sub),
      role: typeof role === 'string' ? role : null,
      expiresAt: typeof payload.exp === 'number' ? payload.exp * 1000 : null,
    }
  }
}

/** The bearer token of a request: the Authorization header, or `?token=` where allowed. */
export function bearerToken(request: Request, allowQuery = false): string | null {
  const header = request.headers.get('authorization')
  const match = header?.match(/^Bearer\s+(\S+)$/i)
  if (match) return match[1]!
  if (allowQuery) return new URL(request.url).searchParams.get('token')
  return null
}

/** Issues an HS256 token (development tokens and tests). */
export async function issueToken(
  secret: string,
  userId: string,
  options: {
    role?: string
    expiresIn?: string
    roleClaim?: string
    issuer?: string
    audience?: string
  } = {},
): Promise<string> {
  const jwt = new SignJWT(options.role ? { [options.roleClaim ?? 'role']: options.role } : {})
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(userId)
    .setIssuedAt()
    .setExpirationTime(options.expiresIn ?? '30d')
  if (options.issuer) jwt.setIssuer(options.issuer)
  if (options.audience) jwt.setAudience(options.audience)
  return jwt.sign(new TextEncoder().encode(secret))
}
