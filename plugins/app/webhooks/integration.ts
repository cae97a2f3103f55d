// An incoming-webhook integration (SPEC §10), as one file under routes/webhooks/ declares
// it, and the pure pipeline from a delivery to the message it makes: read the body, find
// the event type, filter, check the payload against the event's schema, format. No HTTP
// and no storage here: plugins/app/webhooks/webhooks.ts mounts the integrations, checks
// the key and the signature, and sends what this produces.
import type { IncomingHttpHeaders } from 'node:http'
import type { Static, TSchema } from 'typebox'
import { Compile } from 'typebox/compile'
import type { Validator } from 'typebox/compile'
import { ParleyError, reason, type Keyed } from '../errors.js'
import { schemaReason } from '../http/schema-reason.js'
import { CONTENT_MAX, TOPIC_MAX } from '../stores/messages.js'

export interface WebhookMessage {
  /** The integration's topic; the `topic` URL parameter overrides it. */
  topic: string
  /** Markdown, as a message's content. */
  content: string
}

/** What a formatter may read of a delivery besides its payload. */
export interface Delivery {
  headers: IncomingHttpHeaders
}

export interface EventHandler<S extends TSchema = TSchema> {
  /**
   * The payload as this event needs it: a payload that fails it is 400 naming the
   * integration, so the formatter may read whatever the schema declares without checks
   * (undeclared properties pass through). Declare exactly what `format` reads.
   */
  payload: S
  /**
   * The message of one delivery, or null to send nothing (a successful no-op). A
   * formatter that meets a sub-type it does not handle (an issue `labeled`) calls
   * unsupported().
   */
  format: (payload: Static<S>, delivery: Delivery) => WebhookMessage | null
}

/** Where an integration finds a delivery's event type. */
export type EventSource =
  /** An HTTP header, as GitHub's `X-GitHub-Event`: missing is 400 MISSING_HTTP_EVENT_HEADER. */
  | { header: string }
  /** A payload field, read before the event's schema is known (the payload is still `unknown`); undefined is 400. */
  | { field: string, read: (payload: unknown) => string | undefined }
  /** One kind of delivery only. */
  | { fixed: string }

export interface Integration {
  /** The URL segment: `/api/v1/external/<name>`. */
  name: string
  /** The sender's name, as the sender writes it (not translated). */
  displayName: string
  /** The sender's public documentation of these payloads, linked from /integrations. */
  docsUrl: string
  eventSource: EventSource
  /** One handler per event type the integration formats; any other type is UNSUPPORTED_WEBHOOK_EVENT_TYPE. */
  events: Record<string, EventHandler<any>>
}

/** A compiled integration: what the dispatcher and the tests run. */
export interface CompiledIntegration extends Integration {
  checks: Map<string, Validator>
}

/** Declares one event: the generic makes `format`'s payload the schema's type. */
export function event<S extends TSchema> (payload: S, format: (payload: Static<S>, delivery: Delivery) => WebhookMessage | null): EventHandler<S> {
  return { payload, format }
}

const NAME = /^[a-z][a-z0-9_-]{0,39}$/

/** Declares an integration and compiles its schemas once. */
export function integration (spec: Integration): CompiledIntegration {
  if (!NAME.test(spec.name)) throw new Error(`integration name ${spec.name} is not a URL segment`)
  const checks = new Map<string, Validator>()
  for (const [type, handler] of Object.entries(spec.events)) checks.set(type, Compile(handler.payload))
  return { ...spec, checks }
}

/** Thrown by a formatter for a sub-type it does not handle; answered 200 UNSUPPORTED_WEBHOOK_EVENT_TYPE. */
export class UnsupportedEvent extends Error {
  constructor (readonly eventType: string) {
    super(`unsupported event ${eventType}`)
    this.name = 'UnsupportedEvent'
  }
}

/** For a formatter: this delivery's (sub-)type is not handled, e.g. unsupported('issues:labeled'). */
export function unsupported (eventType: string): never {
  throw new UnsupportedEvent(eventType)
}

/** 400 BAD_REQUEST naming the integration: the payload is not this sender's format. */
export function malformed (integration: Integration, why: Keyed): ParleyError {
  return new ParleyError('BAD_REQUEST', 'error.webhook_payload', { integration: integration.displayName, why }, { integration: integration.name })
}

const UTF8 = new TextDecoder('utf-8', { fatal: true })

/**
 * The payload of a raw body: JSON whatever the declared type (senders send JSON as
 * text/plain or with no type at all), or in a form's `payload` field (GitHub's
 * form-encoded deliveries, Slack-compatible senders). Invalid UTF-8 is refused rather
 * than repaired: a signature was computed over the bytes, and a repaired text is not
 * what the sender meant.
 */
export function readPayload (integration: Integration, body: Buffer, contentType: string | undefined): unknown {
  let text: string
  try {
    text = UTF8.decode(body)
  } catch {
    throw malformed(integration, reason('error.why.webhook_not_utf8'))
  }
  if ((contentType ?? '').toLowerCase().startsWith('application/x-www-form-urlencoded')) {
    const field = new URLSearchParams(text).get('payload')
    if (field === null) throw malformed(integration, reason('error.why.webhook_no_payload_field'))
    text = field
  }
  try {
    return JSON.parse(text)
  } catch {
    throw malformed(integration, reason('error.why.webhook_not_json'))
  }
}

/** `*` matches any run of characters; everything else literally. */
function wildcard (pattern: string): RegExp {
  return new RegExp('^' + pattern.split('*').map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*') + '$')
}

/** only_events / exclude_events (SPEC §10), compiled once per delivery. */
export class EventFilter {
  private readonly only: RegExp[] | undefined
  private readonly exclude: RegExp[]
  constructor (only: string[] | undefined, exclude: string[] | undefined) {
    this.only = only?.map(wildcard)
    this.exclude = (exclude ?? []).map(wildcard)
  }

  admits (eventType: string): boolean {
    if (this.only !== undefined && !this.only.some((r) => r.test(eventType))) return false
    return !this.exclude.some((r) => r.test(eventType))
  }
}

export const NO_FILTER = new EventFilter(undefined, undefined)

export type Outcome =
  /** A message to send. */
  | { kind: 'message', eventType: string, message: WebhookMessage }
  /** Handled, and nothing to say (the formatter returned null). */
  | { kind: 'nothing', eventType: string }
  /** only_events / exclude_events left it out. */
  | { kind: 'filtered', eventType: string }
  /** Not an event type (or sub-type) the integration handles. */
  | { kind: 'unsupported', eventType: string }

/** The event type of a delivery; throws MISSING_HTTP_EVENT_HEADER, or 400 for a payload without one. */
export function eventTypeOf (integration: Integration, payload: unknown, delivery: Delivery): string {
  const source = integration.eventSource
  if ('fixed' in source) return source.fixed
  if ('header' in source) {
    const value = delivery.headers[source.header.toLowerCase()]
    const text = Array.isArray(value) ? value[0] : value
    if (text === undefined || text.trim() === '') {
      throw new ParleyError('MISSING_HTTP_EVENT_HEADER', 'error.missing_event_header', { header: source.header }, { header: source.header })
    }
    return text.trim()
  }
  const value = source.read(payload)
  if (value === undefined || value === '') throw malformed(integration, reason('error.why.webhook_no_event_field', { field: source.field }))
  return value
}

const ELLIPSIS = '...'
const TRUNCATED = '\n[message truncated]'

/** Webhook text is the sender's: a topic or content over the limits is cut, as Zulip does, instead of refusing the delivery. */
export function fitMessage (m: WebhookMessage): WebhookMessage {
  let topic = m.topic.trim() === '' ? '(no topic)' : m.topic.trim()
  const topicChars = [...topic]
  if (topicChars.length > TOPIC_MAX) topic = topicChars.slice(0, TOPIC_MAX - ELLIPSIS.length).join('') + ELLIPSIS
  let content = m.content.trim() === '' ? '(empty)' : m.content
  const contentChars = [...content]
  if (contentChars.length > CONTENT_MAX) content = contentChars.slice(0, CONTENT_MAX - TRUNCATED.length).join('') + TRUNCATED
  return { topic, content }
}

/**
 * From a parsed payload to what should happen: event type, unsupported, filter, schema,
 * format, then the topic override and the limits. Throws coded errors (400) only.
 */
export function processDelivery (integration: CompiledIntegration, payload: unknown, delivery: Delivery,
  options: { filter?: EventFilter, topic?: string | undefined } = {}): Outcome {
  const eventType = eventTypeOf(integration, payload, delivery)
  const handler = Object.hasOwn(integration.events, eventType) ? integration.events[eventType] : undefined
  const check = integration.checks.get(eventType)
  if (handler === undefined || check === undefined) return { kind: 'unsupported', eventType }
  if (!(options.filter ?? NO_FILTER).admits(eventType)) return { kind: 'filtered', eventType }
  if (!check.Check(payload)) {
    const e = check.Errors(payload)[0] as { instancePath: string, keyword: string, message: string, params: Record<string, unknown> } | undefined
    const why = e === undefined ? reason('error.why.must_be_valid') : schemaReason(e)
    throw malformed(integration, e === undefined || e.instancePath === ''
      ? why
      : reason('error.why.webhook_field', { path: e.instancePath, why }))
  }
  let message: WebhookMessage | null
  try {
    message = handler.format(payload, delivery)
  } catch (err) {
    if (err instanceof UnsupportedEvent) return { kind: 'unsupported', eventType: err.eventType }
    // A payload nested deeper than the stack (a formatter walking it, JSON.stringify).
    if (err instanceof RangeError) throw malformed(integration, reason('error.why.webhook_too_deep'))
    throw err
  }
  if (message === null) return { kind: 'nothing', eventType }
  const topic = options.topic !== undefined && options.topic.trim() !== '' ? options.topic : message.topic
  return { kind: 'message', eventType, message: fitMessage({ topic, content: message.content }) }
}
