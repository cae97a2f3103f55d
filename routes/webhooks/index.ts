// Every incoming-webhook integration of Parley, in one list (SPEC §10). Adding one is a
// file beside this and a line here; the dispatcher (plugins/app/webhooks/) is not touched.
import type { CompiledIntegration } from '../../plugins/app/webhooks/integration.js'
import { alertmanager } from './alertmanager.js'
import { github } from './github.js'
import { json } from './json.js'
import { slack } from './slack.js'

/** In the order /integrations shows them. */
export const integrations: CompiledIntegration[] = [
  github,
  slack,
  alertmanager,
  json
]
