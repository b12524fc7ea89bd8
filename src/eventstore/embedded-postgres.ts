import { mkdir } from 'node:fs/promises'
import { PGlite } from '@electric-sql/pglite'
import { PGLiteSocketServer } from '@electric-sql/pglite-socket'
import { lockDataDir } from './data-dir-lock.ts'

/**
 * Starts PGlite (PostgreSQL compiled to WASM) persisted under `dataDir`, and serves it on a
 * loopback port so that postgres.js talks to it exactly as to a real server.
 */
export async function startEmbeddedPostgres(dataDir: string, schema: string) {
  let unlock = async () => {}
  if (!dataDir.startsWith('memory://')) {
    await mkdir(dataDir, { recursive: true })
    unlock = await lockDataDir(dataDir)
  }
  const db = await PGlite.create(dataDir).catch(async (error) => {
    await unlock()
    throw error
  })
  // PGlite is one backend session shared by every socket and ignores startup parameters, so
  // the schema and the planning of every statement for its own parameters (see database.ts)
  // are set here, once, for the whole session.
  await db.exec(
    `create schema if not exists ${schema}; set search_path to ${schema};
     set plan_cache_mode = force_custom_plan`,
  )
  const server = new PGLiteSocketServer({ db, host: '127.0.0.1', port: 0, maxConnections: 1 })
  await server.start()
  const url = `postgres://postgres@${server.getServerConn()}/postgres`
  return {
    url,
    async stop() {
      await server.stop()
      await db.close()
      await unlock()
    },
  }
}
