// Demo data for the development server: a few users (and, once they exist, streams and messages).
import type { FastifyInstance } from 'fastify'

const DEMO_PASSWORD = 'parley-demo'

/** Creates the demo data on an empty organization; returns whether it did. */
export async function seedDemo (app: FastifyInstance): Promise<boolean> {
  const existing = await app.users.list(true)
  if (existing.length > 1) return false
  await app.users.doCreateUser({ email: 'iago@parley.dev', password: DEMO_PASSWORD, full_name: 'Iago', role: 'admin' })
  await app.users.doCreateUser({ email: 'hamlet@parley.dev', password: DEMO_PASSWORD, full_name: 'King Hamlet', role: 'member' })
  await app.users.doCreateUser({ email: 'cordelia@parley.dev', password: DEMO_PASSWORD, full_name: 'Cordelia, Lear\'s daughter', role: 'member' })
  return true
}
