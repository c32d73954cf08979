/**
 * The settings every interop scenario runs under: without and with a cluster password (Fernet and
 * the random-key exchange on every connection, `-pass` for syncobj_admin). The two variants also
 * cover both `appendEntriesUseBatch` settings (Patroni's false without a password, pysyncobj's
 * default true with one) — the variant's label says which.
 */
export interface Variant {
  readonly label: string;
  readonly password: string | null;
  readonly useBatch: boolean;
}

export const VARIANTS: readonly Variant[] = [
  { label: 'no password, appendEntriesUseBatch=false', password: null, useBatch: false },
  { label: 'password, appendEntriesUseBatch=true', password: 'interop-secret-ü', useBatch: true },
];

/** `-pass <password>` for syncobj_admin when the variant has one. */
export function adminPass(v: Variant): string[] {
  return v.password === null ? [] : ['-pass', v.password];
}
