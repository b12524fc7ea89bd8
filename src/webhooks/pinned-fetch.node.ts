import type { LookupAddress } from 'node:dns'
import type { LookupFunction } from 'node:net'
import { Agent, fetch as undiciFetch } from 'undici'
import { isPrivateAddress, resolveWithDns, UnsafeWebhookUrlError } from './url-safety.ts'

export type PinnedFetchOptions = {
  /** WEBHOOK_ALLOW_PRIVATE: loopback, private and link-local addresses allowed. */
  allowPrivate: boolean
  /** Host name resolution (DNS by default); tests pass their own. */
  resolve?: (host: string) => Promise<string[]>
}

/**
 * `fetch` for webhooks on Node whose connections go only to the addresses it has checked: the
 * address check runs inside the socket's own name lookup, so a host that resolves to a public
 * address for `checkWebhookUrl` and to a private one a moment later (DNS rebinding) is refused
 * at connect time. Literal IP hosts are not looked up; `checkWebhookUrl` has checked them.
 */
export function createPinnedFetch(options: PinnedFetchOptions): typeof fetch {
  const agent = new Agent({ connect: { lookup: checkedLookup(options) } })
  return ((input: string | URL | Request, init?: RequestInit) =>
    undiciFetch(input as string, {
      ...(init as object),
      dispatcher: agent,
    }) as unknown as Promise<Response>) as typeof fetch
}

function checkedLookup(options: PinnedFetchOptions): LookupFunction {
  const resolve = options.resolve ?? resolveWithDns
  return (hostname, lookupOptions, callback) => {
    resolve(hostname).then(
      (addresses) => {
        if (addresses.length === 0) {
          return callback(new Error(`${hostname} does not resolve`), '', 0)
        }
        const bad = options.allowPrivate ? undefined : addresses.find(isPrivateAddress)
        if (bad) {
          const url = `//${hostname}`
          const reason = `its host resolves to ${bad} at connect time, a loopback, private or link-local address`
          return callback(new UnsafeWebhookUrlError(url, reason), '', 0)
        }
        const found: LookupAddress[] = addresses.map((address) => ({
          address,
          family: address.includes(':') ? 6 : 4,
        }))
        if (lookupOptions.all) return (callback as AllCallback)(null, found)
        callback(null, found[0]!.address, found[0]!.family)
      },
      (error: Error) => callback(error, '', 0),
    )
  }
}

type AllCallback = (error: Error | null, addresses: LookupAddress[]) => void
