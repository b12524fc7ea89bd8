import { type ChildProcess, spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('../../', import.meta.url))

export type ChildServer = {
  proc: ChildProcess
  port: number
  url: string
  wsUrl: string
  /** Every line the process wrote (stdout and stderr). */
  output: string[]
  /** Resolves with the exit code (or the signal's name) once the process has exited. */
  exited: Promise<number | string>
  /** Sends SIGTERM and waits for the exit. */
  stop(): Promise<number | string>
}

/**
 * Runs a real server process: Node (`node --import tsx src/main.node.ts`) or Deno
 * (`deno run … src/main.deno.ts`), on a port of its own (PORT=0; the port is read from its
 * "listening" log line).
 */
export async function spawnServer(
  env: Record<string, string>,
  runtime: 'node' | 'deno' | 'npm start' | 'npm run start:deno' = 'node',
  startTimeoutMs = 60_000,
): Promise<ChildServer> {
  const [command, args] = runtime.startsWith('npm ')
    ? ['npm', runtime.split(' ').slice(1)]
    : runtime === 'node'
      ? [process.execPath, ['--import', 'tsx', 'src/main.node.ts']]
      : [
          `${root}node_modules/.bin/deno`,
          [
            'run',
            '--allow-net',
            '--allow-env',
            '--allow-read',
            '--allow-write',
            '--allow-sys',
            '--node-modules-dir=manual',
            'src/main.deno.ts',
          ],
        ]
  const proc = spawn(command, args, {
    cwd: root,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '/tmp',
      HOST: '127.0.0.1',
      PORT: '0',
      LOG_LEVEL: 'info',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const output: string[] = []
  const exited = new Promise<number | string>((resolve) => {
    proc.once('exit', (code, signal) => resolve(code ?? signal ?? -1))
  })
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`server did not start:\n${output.join('\n')}`)),
      startTimeoutMs,
    )
    const onLine = (line: string) => {
      output.push(line)
      const match = line.includes('"listening"') && line.match(/:(\d+)"/)
      if (match) {
        clearTimeout(timer)
        resolve(Number(match[1]))
      }
    }
    for (const stream of [proc.stdout, proc.stderr]) {
      let rest = ''
      stream?.setEncoding('utf8')
      stream?.on('data', (chunk: string) => {
        const lines = (rest + chunk).split('\n')
        rest = lines.pop() ?? ''
        for (const line of lines) onLine(line)
      })
    }
    void exited.then((code) => {
      clearTimeout(timer)
      reject(new Error(`server exited (${code}) before listening:\n${output.join('\n')}`))
    })
  })
  return {
    proc,
    port,
    url: `http://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${port}/ws`,
    output,
    exited,
    stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM')
      return exited
    },
  }
}
