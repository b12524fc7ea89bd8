import type { InlineProjection } from '../eventstore/command-handler.ts'

/**
 * Every read model, applied in the append transaction. Each projection records the last
 * position it applied, so applying an event again is a no-op.
 */
export const applyProjections: InlineProjection = async () => {}
