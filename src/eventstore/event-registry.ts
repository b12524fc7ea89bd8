/** The schema of one stored version of an event's data (a zod schema fits). */
export type DataSchema = {
  safeParse(value: unknown): { success: true; data: unknown } | { success: false; error: unknown }
}

/** An event as the store sees it before it is recorded: a type and its data. */
export type StoredEvent = { type: string; data: unknown }

/**
 * What the store needs to know about the events it keeps, given by whoever owns them (the
 * domain): for each type its current schema version and the schema of every stored version,
 * the upcasters from older versions, and the fields that hold erasable user content with the
 * values they read back as once erased. The store knows nothing else about events.
 */
export type EventRegistry = {
  schemas: Record<string, { current: number; versions: Record<number, DataSchema> }>
  upcasters?: Partial<Record<string, Record<number, (data: unknown) => unknown>>>
  /** Per event type: each erasable field and the value it reads back as after an erasure. */
  erasable?: Partial<Record<string, Record<string, unknown>>>
}

/** The issues of a failed parse, for error messages (zod's `issues`, else the error itself). */
export const issuesOf = (error: unknown) => (error as { issues?: unknown })?.issues ?? error
