/**
 * Await a condition with a bounded time (polling on the event loop, never sleeping blindly).
 * `cond` may be async (e.g. a utility-command round trip); `before` runs before each check
 * (to refresh what the condition reads).
 */
export async function waitFor(
  cond: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what = 'condition',
  before?: () => Promise<void>,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (before) await before();
    if (await cond()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, before ? 50 : 5));
  }
}
