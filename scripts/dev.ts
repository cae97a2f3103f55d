// `npm run dev`: the development server (the role of Zulip's tools/run-dev):
// TypeScript run directly by tsx, restarted on change, pretty logs, demo data.
import { seedDemo } from './demo-data.js'

process.env.PARLEY_DATA_DIR ??= './data/dev'
process.env.PARLEY_ADMIN_EMAIL ??= 'admin@parley.dev'
process.env.PARLEY_ADMIN_PASSWORD ??= 'parley-dev'
process.env.PARLEY_PRETTY_LOGS ??= '1'
process.env.PARLEY_ENV ??= 'development'

const { start } = await import('../server.js')
const app = await start()
const seeded = await seedDemo(app)
if (seeded) app.log.info('demo data created (users hamlet, cordelia, iago @parley.dev, password "parley-demo")')
app.log.info(`log in as ${process.env.PARLEY_ADMIN_EMAIL} / ${process.env.PARLEY_ADMIN_PASSWORD}`)
