/**
 * Builds the TCP transport from a SyncObjConf (seconds → milliseconds, pysyncobj option names →
 * transport options). The default transport of every SyncObj.
 */
import type { SyncObjConf } from './config.js';
import { TcpTransport } from './transport/tcp-transport.js';
import type { Transport, TransportHandler } from './transport/types.js';

export function createTcpTransport(
  handler: TransportHandler,
  conf: SyncObjConf,
  selfAddress: string | null,
): Transport {
  const c = conf.values;
  return new TcpTransport(
    {
      selfAddress,
      bindAddress: c.bindAddress,
      password: c.password,
      connectionTimeoutMs: c.connectionTimeout * 1000,
      connectionRetryTimeMs: c.connectionRetryTime * 1000,
      bindRetryTimeMs: c.bindRetryTime * 1000,
      maxBindRetries: c.maxBindRetries,
      maxFrameBytes: c.maxFrameBytes,
      dnsCacheTimeMs: c.dnsCacheTime * 1000,
      dnsFailCacheTimeMs: c.dnsFailCacheTime * 1000,
      preferredAddrFamily: c.preferredAddrType,
      logger: c.logger,
    },
    handler,
  );
}
