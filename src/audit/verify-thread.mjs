// The body of a verification thread (verify-parallel.node.ts), loaded through tsx: a worker
// thread does not inherit the TypeScript loader of the thread that starts it.
import { register } from 'tsx/esm/api'

register()
await import('./verify-parallel.node.ts')
