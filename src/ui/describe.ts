/** One line for an error shown on the page: `CODE: message` for a SteerlabError, else the message. */
export function describe(e: unknown): string {
  const err = e as { code?: string; message?: string };
  return err.code ? `${err.code}: ${err.message}` : String(err.message ?? e);
}
