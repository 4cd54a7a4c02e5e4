// Channel membership, one record per package (cnr/channels/<ns>/<name>), changed only by compare-and-swap.
// Each channel is also an OCI tag pointing at its current release's index; the CNR service moves the tags.
import { paths } from '../storage/paths.js'
import type { Records } from './records.js'
import { sortReleasesDesc } from './semver.js'

export interface ChannelState {
  current: string
  /** Highest first. */
  releases: string[]
}

export type Channels = Record<string, ChannelState>

interface ChannelsRecord {
  channels: Channels
}

/** What a change did to one channel, so that its tag can follow. */
export interface ChannelChange {
  channel: string
  /** The channel's state now, or undefined when it was deleted. */
  state?: ChannelState
}

export function createChannelStore (records: Records) {
  return {
    async all (name: string): Promise<Channels> {
      return (await records.read<ChannelsRecord>(paths.cnrChannels(name)))?.value.channels ?? {}
    },

    /** Sets the channel's current release, adding it to the channel (created when absent). */
    async addRelease (name: string, channel: string, release: string): Promise<ChannelState> {
      let state: ChannelState = { current: release, releases: [release] }
      await records.update<ChannelsRecord>(paths.cnrChannels(name), record => {
        const channels = record?.channels ?? {}
        const releases = new Set(channels[channel]?.releases ?? [])
        releases.add(release)
        state = { current: release, releases: sortReleasesDesc(releases) }
        return { channels: { ...channels, [channel]: state } }
      })
      return state
    },

    /**
     * Removes `release` from channel `only`, or from every channel (the release was deleted). A channel left
     * without releases is deleted.
     */
    async removeRelease (name: string, release: string, only?: string): Promise<ChannelChange[]> {
      let changes: ChannelChange[] = []
      await records.update<ChannelsRecord>(paths.cnrChannels(name), record => {
        if (record === undefined) return undefined
        changes = []
        const channels: Channels = { ...record.channels }
        for (const [channel, state] of Object.entries(record.channels)) {
          if ((only !== undefined && channel !== only) || !state.releases.includes(release)) continue
          const releases = state.releases.filter(r => r !== release)
          if (releases.length === 0) {
            delete channels[channel]
            changes.push({ channel })
          } else {
            // Removing from one channel moves it to its highest release, as APPR does; deleting a release
            // moves only the channels it was current in.
            const current = only !== undefined || state.current === release ? releases[0] as string : state.current
            channels[channel] = { current, releases }
            changes.push({ channel, state: channels[channel] })
          }
        }
        return changes.length > 0 ? { channels } : undefined
      })
      return changes
    },

    /** Deletes a channel. Returns false when there was none. */
    async delete (name: string, channel: string): Promise<boolean> {
      let found = false
      await records.update<ChannelsRecord>(paths.cnrChannels(name), record => {
        found = record?.channels[channel] !== undefined
        if (!found || record === undefined) return undefined
        const channels = { ...record.channels }
        delete channels[channel]
        return { channels }
      })
      return found
    }
  }
}

export type ChannelStore = ReturnType<typeof createChannelStore>
