// The CNR key layout is a storage format: changing it strands existing data, so it is pinned here.
import t from 'tap'
import { paths } from '../../src/storage/paths.js'

/** The reason of the RegistryError `fn` throws, or undefined when it throws none. */
const failureOf = (fn: () => unknown): unknown => {
  try { fn() } catch (err) { return (err as { reason?: unknown }).reason }
  return undefined
}

t.test('CNR key builders', async t => {
  const hex = 'ab' + 'c'.repeat(62)
  const table: Array<[string, string]> = [
    [paths.cnrPackage('ns/app'), 'cnr/packages/ns/app'],
    [paths.cnrPackagesPrefix, 'cnr/packages/'],
    [paths.cnrChannels('ns/app'), 'cnr/channels/ns/app'],
    [paths.cnrLock('ns/app'), 'cnr/locks/ns/app'],
    [paths.cnrDeleted('ns/app', '1.0.0_b', 'kpm'), 'cnr/deleted/ns/app/1.0.0_b/kpm'],
    [paths.cnrDeletedPrefix('ns/app'), 'cnr/deleted/ns/app/'],
    [paths.cnrSearchPosting('726f63', 'ns/rocket'), 'cnr/search/726f63/ns/rocket'],
    [paths.cnrSearchPrefix('726f63'), 'cnr/search/726f63/'],
    [paths.cnrBlob('ns/app', hex), `cnr/blobs/ns/app/${hex}`],
    [paths.cnrDigest(`sha256:${hex}`), `cnr/digests/sha256/${hex}`]
  ]
  for (const [actual, expected] of table) t.equal(actual, expected)
  t.equal(failureOf(() => paths.cnrDigest('sha256:../../x')), 'digest-invalid')
})
