// Parley's HTML pages, as routes/api/index.ts lists the API: each mounted unprefixed
// and under /en, /de and /zh-hans by plugins/app/pages/pages.ts.
import type { ActionSpec, PageSpec } from '../../plugins/app/pages/pages.js'
import { home } from './home.js'
import { features } from './features.js'
import { login } from './login.js'
import { apiDocs } from './api.js'
import { integrationsPage } from './integrations.js'
import { logout } from './logout.js'
import { language } from './language.js'

export const pages: PageSpec[] = [home, features, login, apiDocs, integrationsPage]
export const actions: ActionSpec[] = [logout, language]
