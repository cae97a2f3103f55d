// Keeps one entry of process.nextTick's queue alive for the life of the process.
// server.ts imports it first, so it runs before any other module's code (a preload that
// runs earlier can still let a full collection come first: docs/decisions.md 32).
//
// Why: on Node 20 every `process.nextTick` builds its queue entry with an object
// literal that has computed keys (`{ [async_id_symbol]: …, [trigger_async_id_symbol]:
// …, callback, args }`). V8 gives such a literal its shape one property at a time, and
// nothing holds those intermediate shapes but live entries. When a full collection
// runs while no entry is alive (an idle server: between start-up and the first
// requests, or any quiet moment), the shapes die; the next entries get new ones, and
// the inline caches of nextTick's property definitions see a second shape and go
// megamorphic, for good. From then on every nextTick (about seven a request) takes
// V8's runtime path: in users/me ~5 µs a request, and +14–18 % req/s with this module
// (docs/performance.md, "session 6"). One entry kept alive keeps its whole chain of
// shapes alive, so the caches stay monomorphic.
//
// The entry is the resource Node reports as executing inside a nextTick callback
// (async_hooks' executionAsyncResource, a public API): no hook is enabled.
import { executionAsyncResource } from 'node:async_hooks'

/** Holds the entry: an array, so the holding is a read that no tool takes for dead code. */
const kept: object[] = []

process.nextTick(() => { kept.push(executionAsyncResource()) })
