import openapiTS, { astToString } from 'openapi-typescript'

export const API_TYPES_FILE = new URL('../src/sdk/api-types.ts', import.meta.url)

const HEADER =
  "// Generated from the server's /openapi.json by `npm run sdk:types`: do not edit by hand.\n" +
  '// test/openapi.e2e.test.ts fails when it no longer matches the document.\n\n'

/** The TypeScript types of the REST API (openapi-typescript's `paths`, `operations`, …). */
export async function generateApiTypes(document: object): Promise<string> {
  const ast = await openapiTS(structuredClone(document) as Parameters<typeof openapiTS>[0])
  return HEADER + astToString(ast)
}
