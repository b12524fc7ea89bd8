/**
 * The import rules of src/ (see "Map of the code" in the README), checked by `npm run check`:
 * each folder imports only the folders it may, `src/domain` imports no I/O library, and no
 * module of src/ imports itself through others (no cycles, type-only imports included).
 * Exit 1 with one line per broken rule.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import ts from 'typescript'

const SRC = resolve(import.meta.dirname, '../src')

/** Where a module of src/ may import from (folders and single root files), besides itself. */
const allowed: Record<string, string[]> = {
  domain: [],
  eventstore: [],
  'conversation-log.ts': ['domain', 'eventstore'],
  projections: ['domain', 'eventstore', 'conversation-log.ts'],
  application: ['domain', 'eventstore', 'conversation-log.ts', 'logger.ts'],
  audit: ['domain', 'eventstore', 'conversation-log.ts', 'config.ts', 'logger.ts'],
  edge: ['domain', 'eventstore', 'application', 'logger.ts'],
  webhooks: ['domain', 'eventstore', 'conversation-log.ts', 'projections', 'logger.ts'],
  presence: ['eventstore', 'projections', 'logger.ts'],
  http: [
    'domain',
    'eventstore',
    'conversation-log.ts',
    'projections',
    'application',
    'audit',
    'edge',
    'webhooks',
    'presence',
    'logger.ts',
    'metrics.ts',
    'services.ts',
  ],
  realtime: [
    'domain',
    'eventstore',
    'conversation-log.ts',
    'projections',
    'application',
    'edge',
    'presence',
    'logger.ts',
    'metrics.ts',
    'services.ts',
  ],
  socketio: [
    'domain',
    'eventstore',
    'conversation-log.ts',
    'projections',
    'application',
    'edge',
    'realtime',
    'logger.ts',
    'services.ts',
  ],
  sdk: [],
  'logger.ts': [],
  'metrics.ts': [],
  'config.ts': ['eventstore'],
  'startup-errors.ts': ['config.ts', 'eventstore', 'logger.ts'],
}
/** Composition roots: they build the process out of every layer. */
const roots = [
  'services.ts',
  'backend.ts',
  'server.node.ts',
  'web-assets.node.ts',
  'main.node.ts',
  'main.deno.ts',
]
/** The only packages the pure domain may use. */
const domainPackages = ['zod', '@noble/hashes']

const files = walk(SRC).filter((f) => /\.(ts|mts|mjs)$/.test(f))
const graph = new Map<string, string[]>()
const problems: string[] = []

for (const file of files) {
  const from = relative(SRC, file)
  const area = areaOf(from)
  const targets: string[] = []
  for (const spec of importsOf(file)) {
    if (!spec.startsWith('.')) {
      if (
        area === 'domain' &&
        !domainPackages.some((p) => spec === p || spec.startsWith(`${p}/`))
      ) {
        problems.push(`${from}: the domain stays free of I/O, but imports '${spec}'`)
      }
      continue
    }
    const target = relative(SRC, resolve(dirname(file), spec))
    if (target.startsWith('..')) continue
    targets.push(target)
    const to = areaOf(target)
    if (to === area || roots.includes(from)) continue
    const rule = allowed[area]
    if (!rule) problems.push(`${from}: no import rule for '${area}'; add one to this script`)
    else if (!rule.includes(to)) problems.push(`${from}: '${area}' may not import ${target}`)
  }
  graph.set(from, targets)
}

for (const cycle of cycles(graph)) problems.push(`import cycle among: ${cycle.join(', ')}`)

if (problems.length) {
  console.error(problems.join('\n'))
  process.exit(1)
}
console.log(`imports: ${files.length} modules of src/ follow the rules, no cycles`)

/** The folder under src/ (or the root file's name). */
function areaOf(path: string): string {
  const [first, ...rest] = path.split('/')
  return rest.length ? first! : path
}

function importsOf(file: string): string[] {
  const info = ts.preProcessFile(readFileSync(file, 'utf8'), true, true)
  return info.importedFiles.map((f) => f.fileName)
}

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)],
  )
}

/** One cycle per strongly connected component of more than one module (Tarjan). */
function cycles(g: Map<string, string[]>): string[][] {
  let index = 0
  const stack: string[] = []
  const on = new Set<string>()
  const idx = new Map<string, number>()
  const low = new Map<string, number>()
  const found: string[][] = []
  const visit = (v: string) => {
    idx.set(v, index)
    low.set(v, index++)
    stack.push(v)
    on.add(v)
    for (const w of g.get(v) ?? []) {
      if (!g.has(w)) continue
      if (!idx.has(w)) {
        visit(w)
        low.set(v, Math.min(low.get(v)!, low.get(w)!))
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!))
    }
    if (low.get(v) === idx.get(v)) {
      const component: string[] = []
      let w: string
      do {
        w = stack.pop()!
        on.delete(w)
        component.push(w)
      } while (w !== v)
      if (component.length > 1 || (g.get(v) ?? []).includes(v)) found.push(component.reverse())
    }
  }
  for (const v of g.keys()) if (!idx.has(v)) visit(v)
  return found
}
