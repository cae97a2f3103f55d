// Credentials: API keys, generated passwords, scrypt password hashes, constant-time comparison.
import { randomBytes, randomInt, scrypt, timingSafeEqual } from 'node:crypto'
import { promisify } from 'node:util'

const scryptAsync = promisify(scrypt) as (pw: string, salt: Buffer, len: number, opts: object) => Promise<Buffer>
const SCRYPT = { N: 16384, r: 8, p: 1, maxmem: 64 * 1024 * 1024 }
const KEY_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'

export function generateApiKey (): string {
  let key = ''
  for (let i = 0; i < 32; i++) key += KEY_ALPHABET[randomInt(KEY_ALPHABET.length)]
  return key
}

export function generatePassword (): string {
  return randomBytes(18).toString('base64url')
}

export async function hashPassword (password: string): Promise<string> {
  const salt = randomBytes(16)
  const hash = await scryptAsync(password, salt, 64, SCRYPT)
  return `scrypt$${salt.toString('base64')}$${hash.toString('base64')}`
}

export async function verifyPassword (password: string, stored: string | null): Promise<boolean> {
  const [scheme, saltB64, hashB64] = (stored ?? 'scrypt$AAAAAAAAAAAAAAAAAAAAAA==$').split('$')
  if (scheme !== 'scrypt' || saltB64 === undefined || hashB64 === undefined) return false
  const expected = Buffer.from(hashB64, 'base64')
  const actual = await scryptAsync(password, Buffer.from(saltB64, 'base64'), 64, SCRYPT)
  // Hash even for unknown users (dummy salt above) so timing does not reveal who exists.
  return expected.length === actual.length && timingSafeEqual(expected, actual)
}

/** Constant-time equality; either side may come as a Buffer already (a cached key or header). */
export function safeEqual (a: string | Buffer, b: string | Buffer): boolean {
  const ab = typeof a === 'string' ? Buffer.from(a) : a
  const bb = typeof b === 'string' ? Buffer.from(b) : b
  if (ab.length !== bb.length) {
    timingSafeEqual(ab, ab)
    return false
  }
  return timingSafeEqual(ab, bb)
}
