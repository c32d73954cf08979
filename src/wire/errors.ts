/**
 * The one error type of the wire layer. Every failure to parse bytes from a peer (framing, zlib,
 * Fernet, pickle) is a WireError with a code; callers drop the connection and keep running.
 */
import { messageAtOffset, RaftdcsError } from '../errors.js';

export const WireErrorCode = {
  /** a frame's length prefix exceeds the configured maximum */
  FrameTooLarge: 'FRAME_TOO_LARGE',
  /** a frame's length prefix is negative */
  FrameNegativeLength: 'FRAME_NEGATIVE_LENGTH',
  /** input ended inside a frame (only reported when the stream is declared finished) */
  FrameTruncated: 'FRAME_TRUNCATED',
  /** the payload is not a valid zlib stream, or inflates past the limit */
  BadZlib: 'BAD_ZLIB',
  /** the Fernet token is malformed or its HMAC does not verify */
  BadToken: 'BAD_TOKEN',
  /** the per-connection random key wrapper is missing or wrong */
  BadRandKey: 'BAD_RANDKEY',
  /** the pickle is malformed: unknown opcode, truncated, stack/memo misuse, bad argument */
  BadPickle: 'BAD_PICKLE',
  /** the pickle names a global outside the allow-list */
  ForbiddenGlobal: 'FORBIDDEN_GLOBAL',
  /** the pickle exceeds a declared decoding limit (size, depth, item count) */
  PickleLimit: 'PICKLE_LIMIT',
  /** a value cannot be encoded (unsupported type) */
  Unencodable: 'UNENCODABLE',
  /** a decoded value does not have the shape a pysyncobj message must have */
  BadMessage: 'BAD_MESSAGE',
} as const;

export type WireErrorCode = (typeof WireErrorCode)[keyof typeof WireErrorCode];

export class WireError extends RaftdcsError<WireErrorCode> {
  override readonly name = 'WireError';
  constructor(
    code: WireErrorCode,
    message: string,
    /** byte offset in the input where the problem was found, when known */
    readonly offset?: number,
  ) {
    super(code, messageAtOffset(code, message, offset));
  }
}
