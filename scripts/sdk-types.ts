// Writes the SDK's REST types (src/sdk/api-types.ts) from a running server's OpenAPI document.

import { readFile, writeFile } from 'node:fs/promises'
import { parseCommandLine, usageError } from './cli.ts'
import { API_TYPES_FILE, generateApiTypes } from './sdk-types-generate.ts'

const { values } = parseCommandLine({
  usage: 'npm run sdk:types -- [--url http://127.0.0.1:3000/openapi.json] [--check]',
  help: `
Generates src/sdk/api-types.ts (openapi-typescript) from the OpenAPI document of a running server.
  --url <url>   where the document is (default http://127.0.0.1:3000/openapi.json)
  --check       write nothing; exit 1 when the file differs from the document
  -h, --help    this text`,
  options: {
    url: { type: 'string', default: 'http://127.0.0.1:3000/openapi.json' },
    check: { type: 'boolean', default: false },
  },
})
let document: object
try {
  const res = await fetch(values.url)
  if (!res.ok) throw new Error(`${res.status} ${res.statusText}`)
  document = (await res.json()) as object
} catch (error) {
  usageError(`could not read ${values.url}: ${(error as Error).message} (is the server running?)`)
}
const text = await generateApiTypes(document)
if (values.check) {
  const current = await readFile(API_TYPES_FILE, 'utf8').catch(() => '')
  if (current !== text) {
    console.error('src/sdk/api-types.ts is out of date: run npm run sdk:types')
    process.exit(1)
  }
  console.log('src/sdk/api-types.ts matches the document')
} else {
  await writeFile(API_TYPES_FILE, text)
  console.log(`wrote src/sdk/api-types.ts (${text.length} characters)`)
}
