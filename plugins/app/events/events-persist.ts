// Saving event queues on a clean stop and restoring them at start (SPEC §7: restarts lose nothing).
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { EventQueue, type QueueRegistry } from './events-queue.js'
import type { NarrowTerm } from './events-narrow.js'

export const QUEUES_FILE = 'event_queues.json'

interface SavedQueue {
  queue_id: string
  user_id: number
  event_types: string[] | null
  narrow: NarrowTerm[]
  lifespan_secs: number
  next_event_id: number
  last_used: number
  /** Pending events as the client will see them, ids included. */
  pending: Array<{ id: number } & Record<string, unknown>>
}

interface SavedFile { version: 1, saved_at: number, queues: SavedQueue[] }

/** Writes every queue to `<dataDir>/event_queues.json` through a temp file, so a crash mid-write leaves no half file. */
export function saveQueues (registry: QueueRegistry, dataDir: string): number {
  const queues: SavedQueue[] = []
  for (const q of registry.queues.values()) {
    queues.push({
      queue_id: q.id,
      user_id: q.userId,
      event_types: q.eventTypes === null ? null : [...q.eventTypes],
      narrow: q.narrow,
      lifespan_secs: q.lifespanSecs,
      next_event_id: q.nextId,
      last_used: Math.floor(q.lastUsed / 1000),
      pending: q.pending.map((e) => ({ id: e.id, ...JSON.parse(e.json) }))
    })
  }
  const file: SavedFile = { version: 1, saved_at: Math.floor(Date.now() / 1000), queues }
  const path = join(dataDir, QUEUES_FILE)
  const tmp = `${path}.${process.pid}.tmp`
  writeFileSync(tmp, JSON.stringify(file))
  renameSync(tmp, path)
  return queues.length
}

/**
 * Loads the saved queues into the registry and deletes the file, so a crash later
 * never restores stale queues twice. Restored queues count as used now: the
 * downtime is the server's, not the client's.
 */
export function loadQueues (registry: QueueRegistry, dataDir: string): number {
  const path = join(dataDir, QUEUES_FILE)
  if (!existsSync(path)) return 0
  try {
    const file = JSON.parse(readFileSync(path, 'utf8')) as SavedFile
    if (file.version !== 1 || !Array.isArray(file.queues)) return 0
    for (const s of file.queues) {
      const q = new EventQueue(s.queue_id, { userId: s.user_id, eventTypes: s.event_types, narrow: s.narrow, lifespanSecs: s.lifespan_secs })
      q.nextId = s.next_event_id
      // Pushed into the queue's own list, which keeps the hidden class every pending list has (noEvents).
      for (const { id, ...event } of s.pending) q.pending.push({ id, json: JSON.stringify(event) })
      registry.add(q)
    }
    return file.queues.length
  } finally {
    rmSync(path, { force: true })
  }
}
