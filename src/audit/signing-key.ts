import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { bytesToHex } from '@noble/hashes/utils.js'
import { type CheckpointSigner, createCheckpointSigner, parseSeed } from './checkpoints.ts'

export type SigningKeySettings = {
  AUDIT_SIGNING_KEY?: string
  AUDIT_LOG_ORIGIN: string
  DATA_DIR: string
}

export const DEV_SIGNING_KEY_FILE = 'dev-audit-signing-key'

/**
 * The checkpoint signer: AUDIT_SIGNING_KEY when set; in embedded mode a development key kept in
 * DATA_DIR (created on first start, as the development JWT secret is); otherwise none (the tree
 * is still built, but no checkpoint is signed).
 */
export async function loadCheckpointSigner(
  settings: SigningKeySettings,
  mode: 'postgres' | 'embedded',
): Promise<{ signer: CheckpointSigner; development: boolean } | null> {
  if (settings.AUDIT_SIGNING_KEY) {
    const signer = await createCheckpointSigner(
      parseSeed(settings.AUDIT_SIGNING_KEY),
      settings.AUDIT_LOG_ORIGIN,
    )
    return { signer, development: false }
  }
  if (mode !== 'embedded') return null
  const file = join(settings.DATA_DIR, DEV_SIGNING_KEY_FILE)
  let seed: string
  try {
    seed = (await readFile(file, 'utf8')).trim()
  } catch {
    await mkdir(settings.DATA_DIR, { recursive: true })
    const fresh = bytesToHex(crypto.getRandomValues(new Uint8Array(32)))
    // `wx`: two starts racing keep the first key
    await writeFile(file, `${fresh}\n`, { mode: 0o600, flag: 'wx' }).catch(() => {})
    seed = (await readFile(file, 'utf8')).trim()
  }
  const signer = await createCheckpointSigner(parseSeed(seed), settings.AUDIT_LOG_ORIGIN)
  return { signer, development: true }
}
