// BERTH_REPLICATION and the `sync` sections of BERTH_MIRRORS: what they accept, and clear errors for the rest.
import t from 'tap'
import { ConfigError, loadConfig } from '../../src/config.js'
import { ruleMatches } from '../../src/mirror/replicate.js'

const load = (env: Record<string, string>) => loadConfig({ BERTH_DATA_DIR: '/tmp/unused', ...env })

t.test('a replication rule and a synced mirror are read', async t => {
  const config = load({
    BERTH_REPLICATION: JSON.stringify([{ name: 'dr', repositories: 'team/**', target: { url: 'https://dr.example/', username: 'u', password: 'p' }, targetPrefix: 'berth' }]),
    BERTH_MIRRORS: JSON.stringify([{ prefix: 'hub', upstream: 'https://registry.example', upstreamPrefix: 'library', sync: { repositories: ['alpine'] } }, { prefix: 'cache', upstream: 'https://other.example' }])
  })
  t.same(config.mirrorSync.replication, [{ name: 'dr', repositories: 'team/**', target: { url: 'https://dr.example', username: 'u', password: 'p' }, targetPrefix: 'berth', onlySigned: false }])
  t.same(config.mirrorSync.mirrors, [{
    name: 'hub', upstream: { url: 'https://registry.example' }, upstreamPrefix: 'library', sync: { repositories: ['alpine'], tags: '.*', intervalSeconds: 3600, onlySigned: false }
  }], 'only entries with a sync section; defaults filled in')
})

t.test('globs and regular expressions over local names', async t => {
  const rule = (repositories: string) => ({ name: 'r', repositories, target: { url: 'http://x' }, onlySigned: false })
  t.ok(ruleMatches(rule('team/**'), 'team/a/b'))
  t.notOk(ruleMatches(rule('team/*'), 'team/a/b'))
  t.ok(ruleMatches(rule('/team/(app|web)/'), 'team/web'))
  t.notOk(ruleMatches(rule('/team/(app|web)/'), 'team/webx'), 'the expression matches the whole name')
})

t.test('bad configuration is a ConfigError that names the problem', async t => {
  const bad: Array<[Record<string, string>, RegExp]> = [
    [{ BERTH_REPLICATION: '{' }, /BERTH_REPLICATION must be a JSON list/],
    [{ BERTH_REPLICATION: '[{"name":"Bad Name","repositories":"a","target":{"url":"http://x"}}]' }, /name must be/],
    [{ BERTH_REPLICATION: '[{"name":"a","repositories":"/(/","target":{"url":"http://x"}}]' }, /not a valid regular expression/],
    [{ BERTH_REPLICATION: '[{"name":"a","repositories":"a","target":{"url":"ftp://x"}}]' }, /target.url must be/],
    [{ BERTH_REPLICATION: '[{"name":"a","repositories":"a","target":{"url":"http://x"}},{"name":"a","repositories":"b","target":{"url":"http://x"}}]' }, /names a rule twice/],
    [{ BERTH_MIRRORS: '[{"prefix":"hub","upstream":"http://x","sync":{"repositories":[]}}]' }, /"sync.repositories" must be a non-empty list/],
    [{ BERTH_MIRRORS: '[{"prefix":"hub","upstream":"http://x","sync":{"repositories":["a"],"tags":"("}}]' }, /"sync.tags" is not a valid regular expression/],
    [{ BERTH_MIRRORS: '[{"prefix":"hub","upstream":"http://x","sync":{"repositories":["a"],"intervalSeconds":-1}}]' }, /"sync.intervalSeconds" must be 0/]
  ]
  for (const [env, message] of bad) {
    t.throws(() => load(env), { name: ConfigError.name, message }, JSON.stringify(env))
  }
})
