import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestServer, type TestServer, uniqueUser } from './support/realtime-server.ts'

// The chat page at `/` in headless Chromium (the system's, installed by .ci/run), two users.
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
]

let server: TestServer
let browser: Browser
const contexts: BrowserContext[] = []

beforeAll(async () => {
  server = await startTestServer({ TYPING_TIMEOUT_MS: '60000' })
  browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS })
}, 120_000)

afterAll(async () => {
  for (const c of contexts) await c.close()
  await browser?.close()
  await server?.close()
})

async function signedIn(userId: string): Promise<{ page: Page; context: BrowserContext }> {
  const context = await browser.newContext()
  contexts.push(context)
  const page = await context.newPage()
  page.on('pageerror', (error) => console.error(`[${userId}] page error`, error))
  await page.goto(server.url)
  await page.fill('#token', await server.token(userId))
  await page.click('#sign-in button[type=submit]')
  await page.locator('#status[data-state=online]').waitFor()
  await expect.poll(() => page.textContent('#me')).toBe(userId)
  return { page, context }
}

const messages = (page: Page) => page.locator('#messages li .content').allTextContents()

describe('the chat page in a real browser', () => {
  it('lets two people chat live: unread counts, typing, read state, and a page that went offline catches up', async () => {
    const alice = uniqueUser('alice')
    const bob = uniqueUser('bob')
    const a = await signedIn(alice)
    const b = await signedIn(bob)

    // Alice opens a chat with Bob and writes
    await a.page.fill('#new-receiver', bob)
    await a.page.click('#new-chat button')
    await expect.poll(() => a.page.textContent('#conversation-title')).toBe(bob)
    await a.page.fill('#message-input', 'Hello Bob')
    await a.page.click('#send')
    await expect.poll(() => messages(a.page)).toEqual(['Hello Bob'])

    // Bob sees the conversation with one unread message, opens it, and reads it
    const entry = b.page.locator(`#conversations li:has-text("${alice}")`)
    await expect.poll(() => entry.locator('.unread').textContent()).toBe('1')
    await entry.click()
    await expect.poll(() => messages(b.page)).toEqual(['Hello Bob'])
    await expect.poll(() => entry.locator('.unread').getAttribute('data-count')).toBe('0')
    // Alice sees that it was read
    await expect.poll(() => a.page.locator('#messages li.mine .state').textContent()).toBe('read')

    // Bob types: Alice sees it; Bob answers
    await b.page.locator('#message-input').pressSequentially('Hi Al')
    await expect.poll(() => a.page.textContent('#typing')).toBe(`${bob} is typing…`)
    await b.page.locator('#message-input').pressSequentially('ice!')
    await b.page.click('#send')
    await expect.poll(() => messages(a.page)).toEqual(['Hello Bob', 'Hi Alice!'])
    await expect.poll(() => a.page.textContent('#typing')).toBe('')

    // Bob goes offline; Alice writes three messages; Bob comes back and gets each once, in order
    await b.context.setOffline(true)
    await b.page.locator('#status[data-state=offline]').waitFor()
    for (const text of ['one', 'two', 'three']) {
      await a.page.fill('#message-input', text)
      await a.page.click('#send')
    }
    await expect
      .poll(() => messages(a.page))
      .toEqual(['Hello Bob', 'Hi Alice!', 'one', 'two', 'three'])
    expect(await messages(b.page)).toEqual(['Hello Bob', 'Hi Alice!'])
    await b.context.setOffline(false)
    await expect
      .poll(() => messages(b.page), { timeout: 20_000 })
      .toEqual(['Hello Bob', 'Hi Alice!', 'one', 'two', 'three'])
    await b.page.locator('#status[data-state=online]').waitFor()
  }, 120_000)
})
