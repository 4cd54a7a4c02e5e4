// The key layout is a storage format: changing it strands existing data, so it is pinned here.
import t from 'tap'
import { paths } from '../../src/storage/paths.js'

/** The reason of the RegistryError `fn` throws, or undefined when it throws none. */
const failureOf = (fn: () => unknown): unknown => {
  try { fn() } catch (err) { return (err as { reason?: unknown }).reason }
  return undefined
}

const hex = 'ab' + 'c'.repeat(62)
const digest = `sha256:${hex}`
const sha512 = `sha512:${'d'.repeat(128)}`

t.test('each key builder', async t => {
  const table: Array<[string, string]> = [
    [paths.blob(digest), `blobs/sha256/ab/${hex}`],
    [paths.blob(sha512), `blobs/sha512/dd/${'d'.repeat(128)}`],
    [paths.layerLink('org/team/app', digest), `repositories/org/team/app/_layers/sha256/${hex}`],
    [paths.manifestLink('a', digest), `repositories/a/_manifests/sha256/${hex}`],
    [paths.tag('a/b', 'v1.0'), 'repositories/a/b/_tags/v1.0'],
    [paths.tagsPrefix('a/b'), 'repositories/a/b/_tags/'],
    [paths.taggedEntry('a', digest, 'latest'), `repositories/a/_tagged/sha256/${hex}/latest`],
    [paths.referrer('a', digest, sha512), `repositories/a/_referrers/sha256/${hex}/sha512-${'d'.repeat(128)}`],
    [paths.catalogEntry('a/b'), 'catalog/a/b'],
    [paths.uploadState('0f0e'), 'uploads/0f0e/state'],
    [paths.uploadData('0f0e'), 'uploads/0f0e/data']
  ]
  for (const [actual, expected] of table) t.equal(actual, expected)
})

t.test('keys read back from listings', async t => {
  t.equal(paths.tagFromKey('a/b', 'repositories/a/b/_tags/v1'), 'v1')
  t.equal(paths.nameFromCatalogKey('catalog/org/team/app'), 'org/team/app')
  t.equal(paths.uploadIdFromKey('uploads/0f0e/state'), '0f0e')
})

t.test('a malformed digest never becomes a key', async t => {
  t.equal(failureOf(() => paths.blob('sha256:../../etc')), 'digest-invalid')
  t.equal(failureOf(() => paths.blob('md5:abc')), 'digest-invalid')
})
