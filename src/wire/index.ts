/**
 * The wire layer's public surface: Python value model, WireError, pickle codec, Fernet and frames.
 * A barrel only: it must never hold code of its own.
 */
export * from './errors.js';
export * from './fernet.js';
export * from './frame.js';
export * from './pickle/index.js';
export * from './value.js';
