import { lookup } from 'node:dns/promises'
import { isIP } from 'node:net'

/** A webhook URL that may not be called: its scheme, or where its host resolves. */
export class UnsafeWebhookUrlError extends Error {
  constructor(
    readonly url: string,
    readonly reason: string,
  ) {
    super(`The webhook URL ${url} is refused: ${reason}`)
    this.name = 'UnsafeWebhookUrlError'
  }
}

export type UrlSafetyOptions = {
  /** WEBHOOK_ALLOW_PRIVATE: loopback, private and link-local hosts allowed (tests, on-premises). */
  allowPrivate: boolean
  /** Resolves a host name to its addresses (DNS by default). */
  resolve?: (host: string) => Promise<string[]>
}

/** A host name's addresses from the system resolver, as connecting to it would get them. */
export const resolveWithDns = async (host: string) =>
  (await lookup(host, { all: true, verbatim: true })).map((a) => a.address)

/**
 * Checks that a webhook may be sent to `url`: `http` or `https`, no credentials in it, and a
 * host that resolves only to public addresses (unless private ones are allowed). Called when a
 * subscription is saved and again before each attempt, since what a name resolves to changes.
 */
export async function checkWebhookUrl(url: string, options: UrlSafetyOptions): Promise<URL> {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    throw new UnsafeWebhookUrlError(url, 'it is not a URL')
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') {
    throw new UnsafeWebhookUrlError(url, 'only http and https are allowed')
  }
  if (parsed.username || parsed.password) {
    throw new UnsafeWebhookUrlError(url, 'credentials in the URL are not allowed')
  }
  if (options.allowPrivate) return parsed
  const host = parsed.hostname.replace(/^\[|\]$/g, '')
  let addresses: string[]
  try {
    addresses = isIP(host) ? [host] : await (options.resolve ?? resolveWithDns)(host)
  } catch (error) {
    throw new UnsafeWebhookUrlError(url, `its host does not resolve (${(error as Error).message})`)
  }
  if (addresses.length === 0) throw new UnsafeWebhookUrlError(url, 'its host does not resolve')
  const bad = addresses.find(isPrivateAddress)
  if (bad) {
    throw new UnsafeWebhookUrlError(
      url,
      `its host resolves to ${bad}, a loopback, private or link-local address (set WEBHOOK_ALLOW_PRIVATE=true to allow)`,
    )
  }
  return parsed
}

/** Loopback, private, link-local, shared (CGNAT), unspecified, multicast or reserved. */
export function isPrivateAddress(address: string): boolean {
  const version = isIP(address)
  if (version === 4) return isPrivateV4(address.split('.').map(Number))
  if (version !== 6) return true
  const words = ipv6Words(address)
  if (!words) return true
  // ::ffff:a.b.c.d (mapped) and ::a.b.c.d (compatible) reach IPv4 hosts
  if (words.slice(0, 5).every((w) => w === 0) && (words[5] === 0xffff || words[5] === 0)) {
    if (words[5] === 0 && words[6] === 0 && (words[7] === 0 || words[7] === 1)) return true // :: and ::1
    return isPrivateV4([words[6]! >> 8, words[6]! & 255, words[7]! >> 8, words[7]! & 255])
  }
  const first = words[0]!
  return (
    (first & 0xfe00) === 0xfc00 || // fc00::/7 unique local
    (first & 0xffc0) === 0xfe80 || // fe80::/10 link-local
    (first & 0xffc0) === 0xfec0 || // fec0::/10 site-local (deprecated)
    (first & 0xff00) === 0xff00 || // multicast
    (first === 0x64 && words[1] === 0xff9b) || // 64:ff9b::/96 NAT64 reaches IPv4
    first === 0x2002 // 6to4 embeds an IPv4 address
  )
}

function isPrivateV4([a, b]: number[]): boolean {
  return (
    a === 0 ||
    a === 10 ||
    a === 127 ||
    (a === 100 && b! >= 64 && b! <= 127) ||
    (a === 169 && b === 254) ||
    (a === 172 && b! >= 16 && b! <= 31) ||
    (a === 192 && b === 168) ||
    (a === 192 && b === 0) ||
    (a === 198 && (b === 18 || b === 19)) ||
    a! >= 224
  )
}

/** The eight 16-bit words of an IPv6 address (a trailing dotted IPv4 part included). */
function ipv6Words(address: string): number[] | null {
  let text = address.split('%')[0]!.toLowerCase()
  const dotted = text.match(/(\d+)\.(\d+)\.(\d+)\.(\d+)$/)
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number]
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`
  }
  const [head, tail] = text.split('::') as [string, string | undefined]
  const parse = (s: string) => (s ? s.split(':').map((w) => Number.parseInt(w, 16)) : [])
  const left = parse(head)
  const right = tail === undefined ? [] : parse(tail)
  const fill = 8 - left.length - right.length
  if (tail === undefined ? fill !== 0 : fill < 0) return null
  const words = [...left, ...new Array(fill).fill(0), ...right]
  return words.every((w) => Number.isInteger(w) && w >= 0 && w <= 0xffff) ? words : null
}
