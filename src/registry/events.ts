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
  /** A manifest put finished: the manifest and every tag it named are written (after its manifest-put and tag-set events). */
  | { type: 'push-completed', digest: string, mediaType: string, size: number, tags: string[], subject?: string }
  /**
   * A manifest was served by GET. Not a write: told only to listeners of this type (never to onAny), and only
   * emitted when one listens (listens()), so pulls cost nothing when nobody asked for them.
   */
  | { type: 'manifest-pulled', reference: string, digest: string, mediaType: string, size: number }
  /** CNR: a release and media type was pushed; `repository` is the package `<namespace>/<name>`. */
  | { type: 'cnr-release-pushed', release: string, mediaType: string, digest: string }
  /** CNR: a release and media type was deleted. */
  | { type: 'cnr-release-deleted', release: string, mediaType: string }
  /** CNR: a channel was created, moved or changed its releases; no `current` when the channel is gone. */
  | { type: 'cnr-channel-changed', channel: string, current?: string, releases: string[] }
  /** /packages: a file was stored; `repository` is `packages/<name>`, `digest` its manifest. */
  | { type: 'package-uploaded', file: string, version: string, digest: string, size: number }
  /** /packages: a file was deleted. */
  | { type: 'package-deleted', file: string, version: string, digest: string }
)

/** Events that tell of reads, not writes: only listeners of their own type hear them. */
const READ_EVENTS: ReadonlySet<string> = new Set<RegistryEvent['type']>(['manifest-pulled'])

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
  /** Listeners per type (onAny not counted), so listens() costs a lookup. */
  const counts = new Map<RegistryEventType | '*', number>()

  const events = {
    /** Subscribes to one type of event; returns the unsubscribe function. */
    on<T extends RegistryEventType> (type: T, listener: Listener<EventOf<T>>): () => void {
      return subscribe(type, listener)
    },

    /** Subscribes to every write event (audit, metrics, webhooks); read events (READ_EVENTS) are not told. */
    onAny (listener: Listener): () => void {
      return subscribe('*', listener)
    },

    /** Whether a listener subscribed to this very type: emitters of read events ask before they build one. */
    listens (type: RegistryEventType): boolean {
      return (counts.get(type) ?? 0) > 0
    },

    /** Tells every listener of the event's type, one after the other; never throws. */
    async emit<T extends RegistryEventType> (type: T, payload: Payload<T>): Promise<void> {
      const event = { type, ...payload, at: now().toISOString() } as unknown as EventOf<T>
      for (const entry of [...listeners]) {
        if (entry.type === '*' ? READ_EVENTS.has(type) : entry.type !== type) continue
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
    counts.set(type, (counts.get(type) ?? 0) + 1)
    return () => {
      const i = listeners.indexOf(entry)
      if (i === -1) return
      listeners.splice(i, 1)
      counts.set(type, (counts.get(type) ?? 1) - 1)
    }
  }

  return events
}

export type RegistryEvents = ReturnType<typeof createEvents>
