/**
 * Standard Webhooks signatures (standardwebhooks.com): HMAC-SHA256 over
 * `<webhook-id>.<webhook-timestamp>.<body>` with the secret's bytes, sent as
 * `webhook-signature: v1,<base64>`; the secret is shown to the admin as `whsec_<base64>`.
 * Web Crypto only, so it runs on Node and Deno alike.
 */

const SECRET_PREFIX = 'whsec_'

/** A new signing secret: 32 random bytes as `whsec_<base64>`. */
export function newSigningSecret(): string {
  return SECRET_PREFIX + toBase64(crypto.getRandomValues(new Uint8Array(32)))
}

/** The headers that sign one message: `webhook-id`, `webhook-timestamp`, `webhook-signature`. */
export async function signatureHeaders(
  secret: string,
  messageId: string,
  timestampSeconds: number,
  body: string,
): Promise<Record<string, string>> {
  const key = await signingKey(secret)
  const signed = new TextEncoder().encode(`${messageId}.${timestampSeconds}.${body}`)
  const mac = new Uint8Array(await crypto.subtle.sign('HMAC', key, signed))
  return {
    'webhook-id': messageId,
    'webhook-timestamp': String(timestampSeconds),
    'webhook-signature': `v1,${toBase64(mac)}`,
  }
}

/** Imported keys by secret: importing one costs more than signing a message with it. */
const keys = new Map<string, Promise<CryptoKey>>()
const MAX_KEYS = 1000

function signingKey(secret: string): Promise<CryptoKey> {
  let key = keys.get(secret)
  if (!key) {
    if (keys.size >= MAX_KEYS) keys.clear()
    key = crypto.subtle.importKey(
      'raw',
      fromBase64(secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret),
      { name: 'HMAC', hash: 'SHA-256' },
      false,
      ['sign'],
    )
    key.catch(() => keys.delete(secret))
    keys.set(secret, key)
  }
  return key
}

function toBase64(bytes: Uint8Array): string {
  let s = ''
  for (const b of bytes) s += String.fromCharCode(b)
  return btoa(s)
}

function fromBase64(text: string): Uint8Array<ArrayBuffer> {
  const s = atob(text)
  const bytes = new Uint8Array(s.length)
  for (let i = 0; i < s.length; i++) bytes[i] = s.charCodeAt(i)
  return bytes
}
