// Demo data for the development server: a few users, public and private streams, a
// conversation with some history, and messages from others that are unread for the owner
// (every message is unread for its recipients but its sender until they read it).
import type { FastifyInstance } from 'fastify'

const DEMO_PASSWORD = 'parley-demo'

/** Creates the demo data on an empty organization; returns whether it did. */
export async function seedDemo (app: FastifyInstance): Promise<boolean> {
  const existing = await app.users.list(true)
  if (existing.length > 1) return false
  const owner = existing[0]
  const iago = await app.users.doCreateUser({ email: 'iago@parley.dev', password: DEMO_PASSWORD, full_name: 'Iago', role: 'admin' })
  const hamlet = await app.users.doCreateUser({ email: 'hamlet@parley.dev', password: DEMO_PASSWORD, full_name: 'King Hamlet', role: 'member' })
  const cordelia = await app.users.doCreateUser({ email: 'cordelia@parley.dev', password: DEMO_PASSWORD, full_name: 'Cordelia, Lear\'s daughter', role: 'member' })
  // The owner (the account `npm run dev` prints) is in every stream, the private one included.
  const withOwner = (ids: number[]): number[] => owner === undefined ? ids : [owner.user_id, ...ids]

  const general = await app.streams.doCreateStream(iago, {
    name: 'general', description: 'Everything else', invite_only: false, principals: withOwner([hamlet.user_id, cordelia.user_id])
  })
  const design = await app.streams.doCreateStream(iago, { name: 'design', description: 'How Parley should look and feel', invite_only: false, principals: withOwner([hamlet.user_id]) })
  const elsinore = await app.streams.doCreateStream(hamlet, { name: 'elsinore', description: 'A private stream', invite_only: true, principals: withOwner([cordelia.user_id]) })

  const send = async (sender: typeof iago, to: number | number[], topic: string, content: string): Promise<void> => {
    await app.messages.doSendMessage(sender, Array.isArray(to)
      ? { type: 'direct', to, content, client: 'demo' }
      : { type: 'stream', to, topic, content, client: 'demo' })
  }
  // Some history first, so scrolling up in #general loads older messages.
  const cast = [iago, hamlet, cordelia]
  for (let i = 1; i <= 60; i++) {
    const who = cast[i % cast.length] ?? iago
    await send(who, general.stream_id, 'history', `Earlier note ${i}: ${i % 4 === 0 ? 'the *event queue* survived another restart.' : 'nothing to report.'}`)
  }
  await send(iago, general.stream_id, 'welcome', 'Welcome to **Parley**! Every request here follows [one documented life](/api).')
  await send(hamlet, general.stream_id, 'welcome', 'To be, or not to be: that is the question.')
  await send(cordelia, general.stream_id, 'welcome', 'Nothing will come of nothing.\n\n```\nspeak again\n```')
  await send(iago, general.stream_id, 'release plans', 'Shipping the event queues this week: `POST /register`, then long-poll `GET /events`.')
  await send(hamlet, design.stream_id, 'colours', 'Should unread messages get a **blue** bar or a dot?\n\n- bar: easy to scan\n- dot: quieter')
  await send(cordelia, elsinore.stream_id, 'ramparts', 'Something is rotten here. Meet on the platform at midnight.')
  await send(hamlet, [cordelia.user_id], '', 'Get thee to a nunnery.')
  if (owner !== undefined) {
    await send(hamlet, [owner.user_id], '', 'Have you seen the ghost on the ramparts? Reply when you can.')
    await send(iago, [owner.user_id, cordelia.user_id], '', 'A group conversation: the three of us should review the *release plans*.')
  }
  return true
}
