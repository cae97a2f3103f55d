// `npm run dev`: the development server (the role of Zulip's tools/run-dev):
// TypeScript run directly by tsx, restarted on change, pretty logs, demo data, and the
// web app (web/) rebuilt by esbuild on every change, served unminified with source maps.
import { seedDemo } from './demo-data.js'
import { watchWeb } from './build-web.js'

process.env.PARLEY_DATA_DIR ??= './data/dev'
process.env.PARLEY_ADMIN_EMAIL ??= 'admin@parley.dev'
process.env.PARLEY_ADMIN_PASSWORD ??= 'parley-dev'
process.env.PARLEY_PRETTY_LOGS ??= '1'
process.env.PARLEY_ENV ??= 'development'

// The first build finishes before the server answers, so `/` never links a missing bundle;
// later rebuilds are logged through the server's logger.
const sink: { log?: { info: (msg: string) => void, error: (msg: string) => void } } = {}
await watchWeb((errors) => {
  if (errors > 0) (sink.log ?? console).error(`web app: ${errors} build error(s); static/js/app.js kept as it was`)
  else sink.log?.info('web app rebuilt: static/js/app.js (reload the page)')
})

const { start } = await import('../server.js')
const app = await start()
sink.log = app.log
const seeded = await seedDemo(app)
if (seeded) app.log.info('demo data created (users hamlet, cordelia, iago @parley.dev, password "parley-demo")')
app.log.info(`log in as ${process.env.PARLEY_ADMIN_EMAIL} / ${process.env.PARLEY_ADMIN_PASSWORD}`)
