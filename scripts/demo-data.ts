// Demo data for the development server: a few users, streams and a conversation.
import type { FastifyInstance } from 'fastify'

const DEMO_PASSWORD = 'parley-demo'

/** Creates the demo data on an empty organization; returns whether it did. */
export async function seedDemo (app: FastifyInstance): Promise<boolean> {
  const existing = await app.users.list(true)
  if (existing.length > 1) return false
  const iago = await app.users.doCreateUser({ email: 'iago@parley.dev', password: DEMO_PASSWORD, full_name: 'Iago', role: 'admin' })
  const hamlet = await app.users.doCreateUser({ email: 'hamlet@parley.dev', password: DEMO_PASSWORD, full_name: 'King Hamlet', role: 'member' })
  const cordelia = await app.users.doCreateUser({ email: 'cordelia@parley.dev', password: DEMO_PASSWORD, full_name: 'Cordelia, Lear\'s daughter', role: 'member' })

  const general = await app.streams.doCreateStream(iago, {
    name: 'general', description: 'Everything else', invite_only: false, principals: [hamlet.user_id, cordelia.user_id]
  })
  await app.streams.doCreateStream(iago, { name: 'design', description: 'How Parley should look and feel', invite_only: false, principals: [hamlet.user_id] })
  await app.streams.doCreateStream(hamlet, { name: 'elsinore', description: 'A private stream', invite_only: true, principals: [] })

  const send = async (sender: typeof iago, to: number | number[], topic: string, content: string): Promise<void> => {
    await app.messages.doSendMessage(sender, Array.isArray(to)
      ? { type: 'direct', to, content, client: 'demo' }
      : { type: 'stream', to, topic, content, client: 'demo' })
  }
  await send(iago, general.stream_id, 'welcome', 'Welcome to **Parley**! Every request here follows [one documented life](/api).')
  await send(hamlet, general.stream_id, 'welcome', 'To be, or not to be: that is the question.')
  await send(cordelia, general.stream_id, 'welcome', 'Nothing will come of nothing.\n\n```\nspeak again\n```')
  await send(iago, general.stream_id, 'release plans', 'Shipping the event queues this week: `POST /register`, then long-poll `GET /events`.')
  await send(hamlet, [cordelia.user_id], '', 'Get thee to a nunnery.')
  return true
}
