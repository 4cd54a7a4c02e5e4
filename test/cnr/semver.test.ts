// Release grammar, ordering and release queries, as the contract pins them (appr/tests/test_semver.py and
// test_models.py expectations).
import t from 'tap'
import {
  isRelease, looksLikeVersion, parseReleaseQuery, releaseToTag, selectReleases, sortReleasesDesc, tagToRelease
} from '../../src/cnr/semver.js'

t.test('releases are strict SemVer 2.0', async t => {
  for (const ok of ['1.0.1', '0.0.0', '2.0.1-rc.1', '1.6.0-alpha.beta', '1.0.0+build.7', '1.0.0-x-y.1+b-2']) t.ok(isRelease(ok), ok)
  for (const bad of ['1.0', '1', 'v1.0.0', 'anc', 'abc', '01.0.0', '1.0.0-', '1.0.0+', 'latest', '1.a.1', '']) t.notOk(isRelease(bad), bad)
  t.notOk(isRelease(`1.0.0-${'a'.repeat(130)}`), 'a release must fit in an OCI tag')
})

t.test('ordering is SemVer precedence', async t => {
  const ordered = ['1.4.0', '1.6.0-alpha', '1.6.0-alpha.1', '1.6.0-alpha.beta', '1.6.0-beta', '1.6.0-beta.2', '1.6.0-beta.11', '1.6.0-rc.1', '1.6.0', '1.7.0-rc']
  t.same(sortReleasesDesc([...ordered].reverse().sort()), [...ordered].reverse())
})

t.test('select_version over [0.1.0, 0.3.0, 0.3.2-rc, 0.5.0, 0.5.2-rc, 0.7.0, 0.8.0-rc]', async t => {
  const releases = ['0.1.0', '0.3.0', '0.3.2-rc', '0.5.0', '0.5.2-rc', '0.7.0', '0.8.0-rc']
  const table: Array<[string, string | undefined]> = [
    ['==0.5.0', '0.5.0'],
    ['>=0.1.0', '0.7.0'],
    ['<0.4.0', '0.3.0'],
    ['>=0.3.0,<0.6.0', '0.5.0'],
    ['>=0.1.0-', '0.8.0-rc'],
    ['<0.4.0-', '0.3.2-rc'],
    ['>=0.3.0-,<0.6.0', '0.5.2-rc'],
    ['==10.0.0', undefined],
    ['default', '0.8.0-rc'],
    ['0.5.0', '0.5.0'],
    ['>= 0.3.0 , < 0.6.0', '0.5.0'],
    ['^0.3.0', '0.3.0'],
    ['~0.5', '0.5.0'],
    ['!=0.7.0', '0.5.0']
  ]
  for (const [query, expected] of table) t.equal(selectReleases(releases, parseReleaseQuery(query))[0], expected, query)
})

t.test('model expectations: >1.2 picks 2.0.1; unparsable queries are invalid-release', async t => {
  t.equal(selectReleases(['0.0.1', '1.0.1', '2.0.1'], parseReleaseQuery('>1.2'))[0], '2.0.1')
  for (const bad of ['abc', 'latest', '1.a.1', '>>1', '1.0,', '']) {
    if (bad === '') continue
    t.throws(() => parseReleaseQuery(bad), { code: 'invalid-release', status: 422 }, bad)
  }
})

t.test('tags: build metadata is written with "_", and only release tags map back', async t => {
  t.equal(releaseToTag('1.0.0+build.7'), '1.0.0_build.7')
  t.equal(tagToRelease('1.0.0_build.7'), '1.0.0+build.7')
  t.equal(tagToRelease('stable'), undefined)
  t.equal(tagToRelease('v1.0.0'), undefined)
})

t.test('channel names may not read as versions', async t => {
  for (const name of ['1.0.0', '1.0.0_b', '1', '1.2', 'v1', 'V2.0', '1.0.0-rc']) t.ok(looksLikeVersion(name), name)
  for (const name of ['stable', 'dev', 'default', 'beta-1', 'release_2', 'latest']) t.notOk(looksLikeVersion(name), name)
})
