/**
 * Makes user input safe for `websearch_to_tsquery`. Its parser nests one level per `-` (NOT)
 * and fails with "tsquery stack too small" (an internal error) after about 30 in a row, also
 * when they are separated by punctuation or spaces; two NOTs in a row mean nothing a user would
 * want, so a run of them keeps only its last. Checked against PostgreSQL with random strings of
 * the parser's operators and punctuation (test/hostile-input.e2e.test.ts has the named cases).
 */
export function websearchText(query: string): string {
  return query.replace(/-(?=[^\p{L}\p{N}_]*-)/gu, '')
}
