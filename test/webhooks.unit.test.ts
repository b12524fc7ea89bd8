import { Webhook } from 'standardwebhooks'
import { describe, expect, it } from 'vitest'
import { attemptsInADay, retryDelayMs } from '../src/webhooks/backoff.ts'
import { newSigningSecret, signatureHeaders } from '../src/webhooks/signing.ts'
import { checkWebhookUrl, isPrivateAddress } from '../src/webhooks/url-safety.ts'

describe('signatures', () => {
  it('verify with the standardwebhooks package, and fail when the body changes', async () => {
    const secret = newSigningSecret()
    const body = JSON.stringify({ id: 'msg_1', type: 'MessageSent', data: { content: 'héllo' } })
    const headers = await signatureHeaders(secret, 'msg_1', Math.floor(Date.now() / 1000), body)
    expect(headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]+=*$/)
    expect(new Webhook(secret).verify(body, headers)).toEqual(JSON.parse(body))
    expect(() => new Webhook(secret).verify(`${body} `, headers)).toThrow()
    expect(() => new Webhook(newSigningSecret()).verify(body, headers)).toThrow()
  })
})

describe('URL safety', () => {
  it('knows loopback, private, link-local and reserved addresses', () => {
    for (const a of [
      '127.0.0.1',
      '10.0.0.5',
      '172.16.3.4',
      '172.31.255.255',
      '192.168.1.1',
      '169.254.169.254',
      '100.64.0.1',
      '0.0.0.0',
      '224.0.0.1',
      '::1',
      '::',
      'fe80::1',
      'fd12:3456::1',
      '::ffff:10.0.0.1',
      '::ffff:7f00:1',
      '64:ff9b::a00:1',
    ]) {
      expect(isPrivateAddress(a), a).toBe(true)
    }
    for (const a of [
      '93.184.215.14',
      '8.8.8.8',
      '172.32.0.1',
      '2606:4700::1111',
      '::ffff:8.8.8.8',
    ]) {
      expect(isPrivateAddress(a), a).toBe(false)
    }
  })

  it('checks what a host name resolves to, unless private addresses are allowed', async () => {
    const resolve = async (host: string) =>
      host === 'internal.example' ? ['10.0.0.7'] : ['8.8.4.4']
    await expect(
      checkWebhookUrl('https://internal.example/hook', { allowPrivate: false, resolve }),
    ).rejects.toThrow(/10\.0\.0\.7/)
    await expect(
      checkWebhookUrl('https://public.example/hook', { allowPrivate: false, resolve }),
    ).resolves.toBeInstanceOf(URL)
    await expect(
      checkWebhookUrl('http://internal.example/hook', { allowPrivate: true, resolve }),
    ).resolves.toBeInstanceOf(URL)
    await expect(
      checkWebhookUrl('file:///etc/passwd', { allowPrivate: true, resolve }),
    ).rejects.toThrow(/http and https/)
    await expect(
      checkWebhookUrl('https://user:pw@public.example/', { allowPrivate: false, resolve }),
    ).rejects.toThrow(/credentials/)
  })
})

describe('retry schedule', () => {
  it('doubles from the base with jitter, and spreads the default attempts over about a day', () => {
    expect(retryDelayMs(1, 5000, () => 0.5)).toBe(5000)
    expect(retryDelayMs(3, 5000, () => 0.5)).toBe(20_000)
    expect(retryDelayMs(3, 5000, () => 0)).toBe(15_000)
    expect(retryDelayMs(3, 5000, () => 1)).toBe(25_000)
    expect(attemptsInADay(5000)).toBe(15)
    const total = Array.from({ length: 14 }, (_, i) => retryDelayMs(i + 1, 5000, () => 0.5)).reduce(
      (a, b) => a + b,
    )
    expect(total / 3600_000).toBeGreaterThan(20)
    expect(total / 3600_000).toBeLessThanOrEqual(24)
  })
})
