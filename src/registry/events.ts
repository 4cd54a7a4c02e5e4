// Registry events: what changed in the store, told by the registry services right after each durable write.
// Every door (/v2, the CNR facade, /packages, the CLI, a future sync or GC) writes through these services,
// so a subscriber (the CNR index, webhooks, metrics, audit, replication) sees every change whoever made it.
//
// Listeners are awaited in the order they subscribed, so a client that lists right after a push sees its
// push. A listener that fails is logged and never fails the write: the write is already durable, and a
// subscriber that keeps derived state must be able to rebuild it from the store (a crash between a write
// and its event loses the event). Events may repeat (a blob linked twice, a tag set to what it was):
// listeners must be idempotent.

export interface RegistryEventBase {
  repository: string
  /** When the write completed, ISO 8601 UTC. */
  at: string
}

export type RegistryEvent = RegistryEventBase & (
  /** The repository's first manifest or blob (its catalog entry) was written. */
  | { type: 'repository-created' }
  /** The repository's last manifest was deleted. Its catalog entry and blob links stay. */
  | { type: 'repository-emptied' }
  /** A manifest was stored and linked into the repository (tags that name it follow as tag-set events). */
  | { type: 'manifest-put', digest: string, mediaType: string, size: number, subject?: string }
  /** A manifest was unlinked from the repository (the tags that named it went first, as tag-deleted events). */
  | { type: 'manifest-deleted', digest: string, mediaType: string, size: number, subject?: string }
  /** A tag now names this manifest. */
  | { type: 'tag-set', tag: string, digest: string, mediaType: string, size: number }
  /** A tag is gone; `digest` is the manifest it named. */
  | { type: 'tag-deleted', tag: string, digest: string }
  /** A blob is linked into the repository: an upload committed, or a mount. */
  | { type: 'blob-committed', digest: string, size: number }
  /** A blob was unlinked from the repository (its bytes stay for other repositories). */
  | { type: 'blob-deleted', digest: string }
)

export type RegistryEventType = RegistryEvent['type']
export type EventOf<T extends RegistryEventType> = Extract<RegistryEvent, { type: T }>
type Payload<T extends RegistryEventType> = Omit<EventOf<T>, 'type' | 'at'>

export type Listener<E extends RegistryEvent = RegistryEvent> = (event: E) => unknown

/** Where listener failures are reported (a pino logger does). */
export interface EventLog {
  warn: (details: object, message: string) => void
}

export function createEvents (log: EventLog, now: () => Date = () => new Date()) {
  const listeners: Array<{ type: RegistryEventType | '*', listener: Listener<any> }> = []

  const events = {
    /** Subscribes to one type of event; returns the unsubscribe function. */
    on<T extends RegistryEventType> (type: T, listener: Listener<EventOf<T>>): () => void {
      return subscribe(type, listener)
    },

    /** Subscribes to every event (audit, metrics, webhooks). */
    onAny (listener: Listener): () => void {
      return subscribe('*', listener)
    },

    /** Tells every listener of the event's type, one after the other; never throws. */
    async emit<T extends RegistryEventType> (type: T, payload: Payload<T>): Promise<void> {
      const event = { type, ...payload, at: now().toISOString() } as unknown as EventOf<T>
      for (const entry of [...listeners]) {
        if (entry.type !== '*' && entry.type !== type) continue
        try {
          await entry.listener(event)
        } catch (err) {
          log.warn({ err, event }, `a listener of ${type} failed; the write stands`)
        }
      }
    }
  }

  function subscribe (type: RegistryEventType | '*', listener: Listener<any>): () => void {
    const entry = { type, listener }
    listeners.push(entry)
    return () => {
      const i = listeners.indexOf(entry)
      if (i !== -1) listeners.splice(i, 1)
    }
  }

  return events
}

export type RegistryEvents = ReturnType<typeof createEvents>
