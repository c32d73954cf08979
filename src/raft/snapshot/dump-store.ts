/**
 * Where full dumps live: a file (`<data_dir>/<self_addr>.dump`, written atomically — temporary
 * file, fsync, rename, fsync of the folder) or memory (read-only nodes, tests). The gzip work runs
 * off the main thread (libuv's pool) and the pickle chunks are produced lazily, with the event loop
 * free between chunks, so a large state never stalls heartbeats.
 */
import { promises as fsp } from 'node:fs';
import { dirname } from 'node:path';
import { createGzip } from 'node:zlib';

export interface DumpStore {
  /** Store a gzipped dump (made here with `gzipChunks`, or received from a leader); resolves once durable. */
  writeGz(gz: Uint8Array): Promise<void>;
  /** The stored dump (gzip bytes), or null when there is none. */
  read(): Promise<Uint8Array | null>;
  readonly description: string;
}

/** gzip the chunks, yielding to the event loop between them. */
export async function gzipChunks(chunks: Iterable<Buffer>, level = 1): Promise<Buffer> {
  const gz = createGzip({ level });
  const out: Buffer[] = [];
  gz.on('data', (d: Buffer) => out.push(d));
  const done = new Promise<void>((resolve, reject) => {
    gz.on('end', resolve);
    gz.on('error', reject);
  });
  let pending = 0;
  for (const c of chunks) {
    if (!gz.write(c)) await new Promise<void>((r) => gz.once('drain', r));
    pending += c.length;
    if (pending >= 256 * 1024) {
      pending = 0;
      await new Promise<void>((r) => setImmediate(r));
    }
  }
  gz.end();
  await done;
  return Buffer.concat(out);
}

export class MemoryDumpStore implements DumpStore {
  readonly description = 'memory';
  private dump: Uint8Array | null = null;

  async writeGz(gz: Uint8Array): Promise<void> {
    this.dump = gz;
  }

  async read(): Promise<Uint8Array | null> {
    return this.dump;
  }
}

async function syncDir(dir: string): Promise<void> {
  let h: fsp.FileHandle | undefined;
  try {
    h = await fsp.open(dir, 'r');
    await h.sync();
  } catch (e) {
    if (process.platform !== 'win32') throw e;
  } finally {
    await h?.close();
  }
}

let writeCounter = 0;

export class FileDumpStore implements DumpStore {
  constructor(
    /** the dump file, e.g. `<data_dir>/127.0.0.1:2222.dump` */
    readonly path: string,
    private readonly fsync = true,
  ) {}

  get description(): string {
    return this.path;
  }

  async writeGz(gz: Uint8Array): Promise<void> {
    // a name of its own per write: two writes never share a temporary file
    const tmp = `${this.path}.tmp.${process.pid}.${++writeCounter}`;
    const h = await fsp.open(tmp, 'w');
    try {
      await h.writeFile(gz);
      if (this.fsync) await h.sync();
    } finally {
      await h.close();
    }
    await fsp.rename(tmp, this.path);
    if (this.fsync) await syncDir(dirname(this.path));
  }

  async read(): Promise<Uint8Array | null> {
    try {
      return await fsp.readFile(this.path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw e;
    }
  }
}
