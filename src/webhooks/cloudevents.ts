// What a webhook says: registry events (src/registry/events.ts) as CloudEvents 1.0 in structured JSON mode.
// Each announced change has one type below; the other registry events (blob links, catalog entries, single tag
// writes) are steps of these and are not sent.
import type { RegistryEvent } from '../registry/events.js'

export const CLOUDEVENTS_CONTENT_TYPE = 'application/cloudevents+json; charset=utf-8'

/** Every type a receiver may get. */
export const WEBHOOK_EVENT_TYPES = [
  'dev.berth.manifest.pushed', 'dev.berth.manifest.deleted', 'dev.berth.tag.deleted', 'dev.berth.manifest.pulled',
  'dev.berth.cnr.release.pushed', 'dev.berth.cnr.release.deleted', 'dev.berth.cnr.channel.changed',
  'dev.berth.package.uploaded', 'dev.berth.package.deleted'
] as const

export type WebhookEventType = typeof WEBHOOK_EVENT_TYPES[number]

export interface CloudEvent {
  specversion: '1.0'
  /** Sorts by creation time (createSortableIds, src/queue/durable-queue.ts): it is also the outbox entry id. */
  id: string
  /** The API path of what changed: /v2/<repository>, /cnr/api/v1/packages/<ns>/<name>, /packages/<name>. */
  source: string
  type: WebhookEventType
  time: string
  /** What in the source changed: a digest, tag, release, channel or file name. */
  subject: string
  datacontenttype: 'application/json'
  data: Record<string, unknown>
}

type Described = Pick<CloudEvent, 'type' | 'source' | 'subject' | 'data'>

/** The CloudEvent a registry event is announced as, or undefined when it is not announced. */
export function describe (event: RegistryEvent): Described | undefined {
  const repository = event.repository
  const v2 = `/v2/${repository}`
  const cnr = `/cnr/api/v1/packages/${repository}`
  const pkg = `/packages/${repository.slice('packages/'.length)}`
  switch (event.type) {
    case 'push-completed':
      return {
        type: 'dev.berth.manifest.pushed',
        source: v2,
        subject: event.digest,
        data: { repository, digest: event.digest, mediaType: event.mediaType, size: event.size, tags: event.tags, ...(event.subject === undefined ? {} : { subject: event.subject }) }
      }
    case 'manifest-deleted':
      return { type: 'dev.berth.manifest.deleted', source: v2, subject: event.digest, data: { repository, digest: event.digest, mediaType: event.mediaType, size: event.size } }
    case 'tag-deleted':
      return { type: 'dev.berth.tag.deleted', source: v2, subject: event.tag, data: { repository, tag: event.tag, digest: event.digest } }
    case 'manifest-pulled':
      return {
        type: 'dev.berth.manifest.pulled',
        source: v2,
        subject: event.digest,
        data: { repository, reference: event.reference, digest: event.digest, mediaType: event.mediaType, size: event.size }
      }
    case 'cnr-release-pushed':
      return { type: 'dev.berth.cnr.release.pushed', source: cnr, subject: event.release, data: { package: repository, release: event.release, mediaType: event.mediaType, digest: event.digest } }
    case 'cnr-release-deleted':
      return { type: 'dev.berth.cnr.release.deleted', source: cnr, subject: event.release, data: { package: repository, release: event.release, mediaType: event.mediaType } }
    case 'cnr-channel-changed':
      return {
        type: 'dev.berth.cnr.channel.changed',
        source: cnr,
        subject: event.channel,
        data: { package: repository, channel: event.channel, current: event.current ?? null, releases: event.releases }
      }
    case 'package-uploaded':
      return { type: 'dev.berth.package.uploaded', source: pkg, subject: event.file, data: { repository, file: event.file, version: event.version, digest: event.digest, size: event.size } }
    case 'package-deleted':
      return { type: 'dev.berth.package.deleted', source: pkg, subject: event.file, data: { repository, file: event.file, version: event.version, digest: event.digest } }
    default:
      return undefined
  }
}

export function cloudEvent (id: string, time: string, described: Described): CloudEvent {
  return { specversion: '1.0', id, source: described.source, type: described.type, time, subject: described.subject, datacontenttype: 'application/json', data: described.data }
}
