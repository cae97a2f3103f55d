// Every REST resource of Parley, in one list: the route table (cf. Zulip's zproject/urls.py).
import type { Resource } from '../../plugins/app/http/rest.js'
import { fetchApiKey, serverSettings } from './server.js'
import { me, regenerateApiKey, user, users } from './users.js'
import { bots } from './bots.js'
import { streamsResources } from './streams.js'
import { messagesResources } from './messages.js'
import { presenceResources } from './presence.js'
import { eventsResources } from './events.js'
import { typingResources } from './typing.js'

export const resources: Resource[] = [
  serverSettings,
  fetchApiKey,
  users,
  me,
  user,
  regenerateApiKey,
  bots,
  ...streamsResources,
  ...messagesResources,
  ...presenceResources,
  ...typingResources,
  ...eventsResources
]
