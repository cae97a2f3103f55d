// `/features`: what Parley does, for visitors.
import { page } from '../../plugins/app/pages/pages.js'

const FEATURES = ['streams', 'topics', 'dm', 'live', 'markdown', 'i18n', 'api', 'selfhost'] as const

export const features = page({
  path: '/features',
  template: 'features',
  title: 'page.features.title',
  cache: true,
  handler: () => ({ features: FEATURES })
})
