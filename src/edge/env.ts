import type { Logger } from '../logger.ts'
import type { AuthUser } from './auth.ts'

/** The typed Hono context of every route. */
export type Env = {
  Variables: {
    user: AuthUser
    requestId: string
    log: Logger
  }
}
