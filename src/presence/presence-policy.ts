/**
 * Who may see whose presence, beyond sharing a conversation: hidden users (their own setting)
 * and blocks. Injected in src/services.ts; the settings and blocks of issue 12 supply the real
 * one, this default hides nobody.
 */
export type PresencePolicy = {
  /** The user hides their presence from everyone. */
  isHidden(userId: string): Promise<boolean>
  /** `viewerId` must not see the presence of `subjectId` (e.g. the viewer blocked them). */
  hides(viewerId: string, subjectId: string): Promise<boolean>
}

export const permissivePresencePolicy: PresencePolicy = {
  isHidden: async () => false,
  hides: async () => false,
}
