/** The stream moved on since it was read: re-read, re-decide and try again. */
export class ConcurrencyError extends Error {
  constructor(
    readonly streamId: string,
    readonly expectedVersion: number,
    readonly actualVersion: number | null,
  ) {
    super(
      `Stream ${streamId} is at version ${actualVersion ?? 'none'}, expected ${expectedVersion}`,
    )
    this.name = 'ConcurrencyError'
  }
}

/** A stored event no longer matches the schema of its type and version. */
export class EventSchemaError extends Error {
  constructor(
    readonly where: { position?: number; streamId: string; version: number; type: string },
    readonly schemaVersion: number,
    readonly issues: unknown,
  ) {
    super(
      `Event ${where.type} v${schemaVersion} at ${where.position !== undefined ? `position ${where.position}, ` : ''}stream ${where.streamId} version ${where.version} does not match its schema: ${JSON.stringify(issues)}`,
    )
    this.name = 'EventSchemaError'
  }
}

/**
 * Streams a batch append found moved on since they were read (another transaction appended to
 * them): the append failed and aborted its transaction, so nothing of the batch is written.
 */
export class StreamsMovedError extends Error {
  constructor(readonly streamIds: string[]) {
    super(`streams changed by another transaction: ${streamIds.join(', ')}`)
    this.name = 'StreamsMovedError'
  }
}
