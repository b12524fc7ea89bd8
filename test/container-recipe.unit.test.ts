import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { parse } from 'yaml'

// No container engine runs on these machines: this checks what can be checked without one.
const root = new URL('..', import.meta.url).pathname
const dockerfile = readFileSync(`${root}Dockerfile`, 'utf8')
const instructions = dockerfile
  .replace(/\\\n\s*/g, ' ')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith('#'))
const pkg = JSON.parse(readFileSync(`${root}package.json`, 'utf8'))

describe('the container recipe', () => {
  it('runs the same command as `npm start`, which CI starts and tests, as PID 1', () => {
    const cmd = instructions.filter((l) => l.startsWith('CMD '))
    expect(cmd).toHaveLength(1)
    const argv = JSON.parse(cmd[0]!.slice(4)) as string[]
    const start = String(pkg.scripts.start).replace(/^exec /, '')
    expect(argv.join(' ')).toBe(start)
  })

  it('builds in two stages, production dependencies only, runs as a non-root user', () => {
    expect(instructions.filter((l) => l.startsWith('FROM '))).toHaveLength(2)
    expect(dockerfile).toContain('npm prune --omit=dev')
    // the postgres.js fix (patches/) is applied in the image too
    expect(dockerfile).toContain('npx patch-package')
    expect(dockerfile).toContain('COPY patches ./patches')
    const users = instructions.filter((l) => l.startsWith('USER '))
    expect(users.at(-1)).toBe('USER node')
    expect(instructions.some((l) => l.startsWith('HEALTHCHECK ') && l.includes('/healthz'))).toBe(
      true,
    )
    // everything the start command needs at run time is a production dependency
    expect(Object.keys(pkg.dependencies)).toContain('tsx')
    // the chat page, its bundler, the offline docs and the Socket.IO endpoint
    expect(dockerfile).toContain('COPY web ./web')
    expect(Object.keys(pkg.dependencies)).toEqual(
      expect.arrayContaining(['esbuild', 'swagger-ui-dist', 'socket.io', 'socket.io-adapter']),
    )
  })

  it('compose.yaml parses and runs the server beside PostgreSQL', () => {
    const compose = parse(readFileSync(`${root}compose.yaml`, 'utf8'))
    expect(Object.keys(compose.services).sort()).toEqual(['postgres', 'server'])
    const server = compose.services.server
    expect(server.build).toBe('.')
    expect(server.environment.DATABASE_URL).toMatch(/^postgres:\/\/.*@postgres:5432\//)
    expect(server.depends_on.postgres.condition).toBe('service_healthy')
    expect(compose.services.postgres.image).toMatch(/^postgres:15/)
  })
})
