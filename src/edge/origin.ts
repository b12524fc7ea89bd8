/**
 * Whether a browser page at `origin` may open a WebSocket here: an origin of CORS_ORIGINS (`*`
 * allows any), or the server's own (same host). Browsers send Origin on every upgrade and let
 * any page connect, so without this check any site could use a visitor's token in `?token=`.
 * Non-browser clients send no Origin and are not concerned.
 */
export function isOriginAllowed(origin: string, origins: string[], host: string | undefined) {
  if (origins.includes('*') || origins.includes(origin)) return true
  try {
    return host !== undefined && new URL(origin).host === host
  } catch {
    return false
  }
}
