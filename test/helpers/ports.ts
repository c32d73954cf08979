/**
 * Free loopback ports for tests that start real listeners (our nodes and Python peers). The kernel
 * picks them: `n` listeners on 127.0.0.1:0 are opened at the same time (so the ports are distinct),
 * read and closed. A port can in principle be taken by someone else before the test binds it; the
 * nodes retry binding, and the window is short.
 */
import { createServer, type Server } from 'node:net';

export async function freePorts(n: number): Promise<number[]> {
  const servers: Server[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const server = createServer();
      servers.push(server);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen({ host: '127.0.0.1', port: 0, exclusive: true }, () => resolve());
      });
    }
    return servers.map((s) => (s.address() as { port: number }).port);
  } finally {
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  }
}

/** `n` distinct `127.0.0.1:<port>` addresses. */
export async function freeLoopbackAddresses(n: number): Promise<string[]> {
  return (await freePorts(n)).map((p) => `127.0.0.1:${p}`);
}
