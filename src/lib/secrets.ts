import { createHash, randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import pLimit from 'p-limit';

/**
 * Password hashing with scrypt (memory-hard, in node:crypto, no native build) at OWASP's current
 * advice, N=2^17, r=8, p=1. The stored form carries its parameters, `scrypt$N$r$p$salt$hash`
 * (salt and hash base64url), so old hashes still verify and are rehashed at the current cost
 * on the next successful sign-in (`needsRehash`).
 *
 * N=2^17 takes 128 MiB for each hash in progress, so at most two run at once: a burst of
 * sign-ins waits its turn instead of taking the process's memory (the sign-in limits keep the
 * queue short).
 */
export const DEFAULT_HASH_COST = 17;
const R = 8;
const P = 1;
const KEY_LENGTH = 32;
// 128 * N * r bytes, with headroom over the largest N we accept to verify.
const MAX_MEM = 288 * 1024 * 1024;
const MAX_VERIFIABLE_N = 2 ** 18;
const hashing = pLimit(2);

let cost = DEFAULT_HASH_COST;

/**
 * Sets log2(N) for new hashes (PASSWORD_HASH_COST; the app sets it at start). Only a test suite
 * has reason to lower it, to stay fast; the stored parameters keep every hash verifiable.
 */
export function setPasswordHashCost(log2N: number): void {
  cost = log2N;
}

function scryptAsync(password: string, salt: Buffer, options: ScryptOptions): Promise<Buffer> {
  return hashing(
    () =>
      new Promise<Buffer>((resolve, reject) =>
        scrypt(password.normalize('NFKC'), salt, KEY_LENGTH, options, (error, key) => (error ? reject(error) : resolve(key))),
      ),
  );
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const N = 2 ** cost;
  const key = await scryptAsync(password, salt, { N, r: R, p: P, maxmem: MAX_MEM });
  return ['scrypt', N, R, P, salt.toString('base64url'), key.toString('base64url')].join('$');
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [scheme, n, r, p, salt, hash] = stored.split('$');
  if (scheme !== 'scrypt' || !n || !r || !p || !salt || !hash) return false;
  // Parameters come from the database; a tampered row must not make us allocate gigabytes.
  if (Number(n) > MAX_VERIFIABLE_N || Number(r) !== R || Number(p) !== P) return false;
  const expected = Buffer.from(hash, 'base64url');
  const key = await scryptAsync(password, Buffer.from(salt, 'base64url'), {
    N: Number(n),
    r: Number(r),
    p: Number(p),
    maxmem: MAX_MEM,
  });
  return key.length === expected.length && timingSafeEqual(key, expected);
}

/** Whether a stored hash was made at other parameters than today's (rehash it on sign-in). */
export function needsRehash(stored: string): boolean {
  const [scheme, n, r, p] = stored.split('$');
  return scheme !== 'scrypt' || Number(n) !== 2 ** cost || Number(r) !== R || Number(p) !== P;
}

/**
 * A hash computed for unknown emails so that a login for an email that does not exist takes as
 * long as one with a wrong password, and response times do not reveal which emails exist.
 */
let dummyHash: Promise<string> | undefined;
export const dummyPasswordHash = (): Promise<string> => (dummyHash ??= hashPassword(randomBytes(16).toString('hex')));

/** A random secret for invite and API tokens: 256 bits, base64url. */
export const randomToken = (): string => randomBytes(32).toString('base64url');

/** API tokens are recognisable by their prefix, so a script's token never reaches the JWT parser (plugins/auth.ts). */
export const API_TOKEN_PREFIX = 'cpl_';

/** Invite and API tokens are high-entropy, so a fast hash is enough to store them safely. */
export const sha256 = (value: string): string => createHash('sha256').update(value).digest('hex');
