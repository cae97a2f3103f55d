// `/`: the landing page for a visitor, the web app's shell for a signed-in user (SPEC §9).
import { page, View } from '../../plugins/app/pages/pages.js'
import { integrations } from '../webhooks/index.js'

export const home = page({
  path: '/',
  template: 'landing',
  title: 'page.landing.title',
  cache: true,
  handler: ({ app, lang, visitor }) => {
    const user = visitor.user
    if (user === null) return {}
    // What the web app (web/main.tsx) reads before its first request.
    const bootstrap = {
      user_id: user.user_id,
      email: user.email,
      full_name: user.full_name,
      is_admin: user.is_admin,
      language: lang,
      languages: app.i18n.languages,
      realm_name: app.config.realmName,
      translations: app.i18n.web(lang),
      // For the Bots panel's webhook URLs (web/bots.tsx): the URL senders reach, which may not be the page's origin.
      integrations: integrations.map((i) => ({ name: i.name, display_name: i.displayName })),
      external_url: app.config.externalUrl
    }
    // `<` escaped so no string in it can close the script element.
    return new View('app', { title: 'page.app.title', bootstrap: JSON.stringify(bootstrap).replace(/</g, '\\u003c') })
  }
})
