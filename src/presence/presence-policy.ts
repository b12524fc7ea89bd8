/** A viewer and a user whose presence the viewer may be shown. */
export type PresencePair = { viewerId: string; subjectId: string }

/**
 * Who may see whose presence, beyond sharing a conversation: hidden users (their own setting)
 * and blocks. Injected in src/services.ts; the settings and blocks of issue 12 supply the real
 * one (`presencePolicyOf`). Asked once for many pairs: a presence
 * change has many viewers, and a `GET /presence` many subjects.
 */
export type PresencePolicy = {
  /**
   * Of `pairs`, those where the viewer must not see the subject's presence: the subject hides
   * it from everyone, or the viewer blocks the subject.
   */
  hiddenPairs(pairs: readonly PresencePair[]): Promise<PresencePair[]>
}

/** A policy from two per-pair rules (for tests and the default). */
export function presencePolicyFrom(rules: {
  isHidden(userId: string): boolean
  hides(viewerId: string, subjectId: string): boolean
}): PresencePolicy {
  return {
    hiddenPairs: async (pairs) =>
      pairs.filter((p) => rules.isHidden(p.subjectId) || rules.hides(p.viewerId, p.subjectId)),
  }
}
