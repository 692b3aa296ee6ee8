import { createHash, randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { hash as argon2Hash, parseOptions, verify as argon2Verify, type Algorithm, type Options as Argon2Options, type Version } from '@node-rs/argon2';
import pLimit from 'p-limit';

/**
 * Password hashing with argon2id at OWASP's first advice: 19 MiB of memory, 2 passes, 1 lane
 * (m=19456, t=2, p=1). Hashes are PHC strings, `$argon2id$v=19$m=19456,t=2,p=1$salt$hash`, so
 * they carry their parameters: a hash made at other ones still verifies and is rehashed at
 * today's on the next successful sign-in (`needsRehash`).
 *
 * argon2id is OWASP's first choice, scrypt its second. The service hashed with scrypt at N=2^17,
 * r=8 until December 2026: those hashes (`scrypt$N$r$p$salt$hash`) still verify, and become
 * argon2id hashes at their owner's next sign-in. The change is about memory: scrypt at N=2^17
 * takes 128 MiB for each hash in progress, argon2id at OWASP's setting 19 MiB, which keeps a
 * sign-in from doubling the process's footprint (bench/README.md, scenario 7) and a burst of
 * sign-ins from exhausting it. Hashing runs on libuv's thread pool (@node-rs/argon2, a prebuilt
 * binary: nothing is compiled at install), never on the event loop, and at most two hashes run
 * at once, so a burst waits its turn (the sign-in limits keep the queue short).
 */
export const DEFAULT_HASH_MEMORY_KIB = 19_456;
const TIME_COST = 2;
const PARALLELISM = 1;
const KEY_LENGTH = 32;
/** `Algorithm.Argon2id`: the package's enum is a const enum, which isolated modules cannot read. */
const ARGON2ID = 2 as Algorithm;
/** `Version.V0x13`, argon2's current version (v=19), which new hashes have. */
const ARGON2_VERSION_19 = 1 as Version;
const hashing = pLimit(2);

let memoryKib = DEFAULT_HASH_MEMORY_KIB;

/**
 * Sets argon2id's memory for new hashes, in KiB (PASSWORD_HASH_MEMORY_KIB; the app sets it at
 * start). Only a test suite has reason to lower it, to stay fast; the stored parameters keep
 * every hash verifiable.
 */
export function setPasswordHashMemory(kib: number): void {
  memoryKib = kib;
}

const argon2Options = (): Argon2Options => ({ algorithm: ARGON2ID, memoryCost: memoryKib, timeCost: TIME_COST, parallelism: PARALLELISM, outputLen: KEY_LENGTH });

/**
 * Bounds on the parameters of a stored hash that we agree to verify. They come from the
 * database: a tampered row must not make a sign-in allocate gigabytes or spin for minutes.
 */
const MAX_VERIFIABLE_MEMORY_KIB = 262_144;
const MAX_VERIFIABLE_TIME_COST = 10;
const MAX_VERIFIABLE_PARALLELISM = 4;

/** The parameters of a stored argon2id hash, or null if it is not one we would verify. */
function argon2Parameters(stored: string) {
  if (!stored.startsWith('$argon2id$')) return null;
  try {
    const options = parseOptions(stored);
    if (options.algorithm !== ARGON2ID) return null;
    if (options.memoryCost > MAX_VERIFIABLE_MEMORY_KIB || options.timeCost > MAX_VERIFIABLE_TIME_COST || options.parallelism > MAX_VERIFIABLE_PARALLELISM) return null;
    return options;
  } catch {
    return null;
  }
}

// Passwords are compared as NFKC, so "é" typed as one character or two is the same password.
const normalized = (password: string) => password.normalize('NFKC');

export function hashPassword(password: string): Promise<string> {
  return hashing(() => argon2Hash(normalized(password), argon2Options()));
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  if (stored.startsWith('scrypt$')) return verifyScrypt(password, stored);
  if (!argon2Parameters(stored)) return false;
  return hashing(() => argon2Verify(stored, normalized(password)));
}

/** Whether a stored hash was made otherwise than today's hashes are (rehash it on sign-in). */
export function needsRehash(stored: string): boolean {
  const options = argon2Parameters(stored);
  return (
    !options ||
    options.memoryCost !== memoryKib ||
    options.timeCost !== TIME_COST ||
    options.parallelism !== PARALLELISM ||
    options.outputLen !== KEY_LENGTH ||
    options.version !== ARGON2_VERSION_19
  );
}

// scrypt hashes made before argon2id, verified until their owners next sign in.
const SCRYPT_R = 8;
const SCRYPT_P = 1;
// 128 * N * r bytes, with headroom over the largest N we accept to verify.
const SCRYPT_MAX_MEM = 288 * 1024 * 1024;
const SCRYPT_MAX_VERIFIABLE_N = 2 ** 18;

function scryptAsync(password: string, salt: Buffer, options: ScryptOptions): Promise<Buffer> {
  return hashing(
    () =>
      new Promise<Buffer>((resolve, reject) =>
        scrypt(normalized(password), salt, KEY_LENGTH, options, (error, key) => (error ? reject(error) : resolve(key))),
      ),
  );
}

async function verifyScrypt(password: string, stored: string): Promise<boolean> {
  const [, n, r, p, salt, hash] = stored.split('$');
  if (!n || !r || !p || !salt || !hash) return false;
  if (Number(n) > SCRYPT_MAX_VERIFIABLE_N || Number(r) !== SCRYPT_R || Number(p) !== SCRYPT_P) return false;
  const expected = Buffer.from(hash, 'base64url');
  const key = await scryptAsync(password, Buffer.from(salt, 'base64url'), { N: Number(n), r: SCRYPT_R, p: SCRYPT_P, maxmem: SCRYPT_MAX_MEM });
  return key.length === expected.length && timingSafeEqual(key, expected);
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
