// neostandard with its TypeScript rules: the Fastify org's style.
import neostandard from 'neostandard'

export default neostandard({
  ts: true,
  ignores: ['dist/**', 'node_modules/**', 'coverage/**', '.tap/**', 'static/vendor/**', 'static/js/app.js']
})
