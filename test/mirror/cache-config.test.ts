// BERTH_MIRRORS: the entries it accepts, the one-line errors it gives, and a bad value stopping the server.
import { spawn } from 'node:child_process'
import t from 'tap'
import { ConfigError, loadConfig } from '../../src/config.js'
import { mirrorFor, mirrorsFrom } from '../../src/mirror/config.js'
import { SERVER_NODE_ARGS } from '../helpers/server-process.js'

t.test('entries, defaults and name mapping', async t => {
  t.same(mirrorsFrom({}), [])
  t.same(mirrorsFrom({ BERTH_MIRRORS: ' ' }), [])
  const mirrors = mirrorsFrom({
    BERTH_MIRRORS: JSON.stringify([
      { prefix: 'hub', upstream: 'https://registry-1.docker.io/', upstreamPrefix: 'library', username: 'u', password: 'p' },
      { prefix: 'mirror/quay', upstream: 'http://127.0.0.1:5001', ttlSeconds: 60, allowPush: true, sync: { repositories: ['org/app'], tags: '^v\\d+' } }
    ])
  })
  t.same(mirrors, [
    { prefix: 'hub', upstream: 'https://registry-1.docker.io', upstreamPrefix: 'library', username: 'u', password: 'p', ttlSeconds: 86400, allowPush: false },
    { prefix: 'mirror/quay', upstream: 'http://127.0.0.1:5001', ttlSeconds: 60, allowPush: true, sync: { repositories: ['org/app'], tags: '^v\\d+', intervalSeconds: 3600, onlySigned: false } }
  ])
  t.same(mirrorFor(mirrors, 'hub/alpine'), { mirror: mirrors[0], upstreamName: 'library/alpine' })
  t.same(mirrorFor(mirrors, 'mirror/quay/org/app'), { mirror: mirrors[1], upstreamName: 'org/app' })
  t.equal(mirrorFor(mirrors, 'hubble/app'), undefined, 'a prefix matches whole path components')
  t.equal(mirrorFor(mirrors, 'hub'), undefined)
  t.same(loadConfig({ BERTH_MIRRORS: JSON.stringify([{ prefix: 'hub', upstream: 'http://127.0.0.1:1' }]) }).mirrors[0]?.prefix, 'hub')
})

t.test('bad values are one line naming BERTH_MIRRORS', async t => {
  const cases: Array<[unknown, RegExp]> = [
    ['{not json', /JSON list/],
    [{ prefix: 'hub' }, /JSON list/],
    [[1], /entry 0 must be an object/],
    [[{ upstream: 'http://x' }], /"prefix" must be a non-empty string/],
    [[{ prefix: 'Hub', upstream: 'http://x' }], /"prefix" must be a repository name path/],
    [[{ prefix: 'hub', upstream: 'ftp://x' }], /"upstream" must be an http/],
    [[{ prefix: 'hub', upstream: 'http://x/v2' }], /"upstream" must be an http/],
    [[{ prefix: 'hub', upstream: 'http://x', username: 'u' }], /given together/],
    [[{ prefix: 'hub', upstream: 'http://x', ttlSeconds: -1 }], /ttlSeconds/],
    [[{ prefix: 'hub', upstream: 'http://x', allowPush: 'yes' }], /allowPush/],
    [[{ prefix: 'hub', upstream: 'http://x', colour: 1 }], /unknown key "colour"/],
    [[{ prefix: 'hub', upstream: 'http://x', sync: { repositories: [] } }], /sync.repositories/],
    [[{ prefix: 'hub', upstream: 'http://x', sync: { repositories: ['a'], tags: '(' } }], /sync.tags/],
    [[{ prefix: 'hub', upstream: 'http://x' }, { prefix: 'hub/sub', upstream: 'http://y' }], /overlaps/]
  ]
  for (const [value, message] of cases) {
    const raw = typeof value === 'string' ? value : JSON.stringify(value)
    let thrown: unknown
    try { mirrorsFrom({ BERTH_MIRRORS: raw }) } catch (err) { thrown = err }
    t.ok(thrown instanceof ConfigError, raw)
    t.match((thrown as Error).message, /^BERTH_MIRRORS: [^\n]+$/)
    t.match((thrown as Error).message, message)
  }
})

t.test('a bad BERTH_MIRRORS stops the server with one line and exit 2', async t => {
  const child = spawn(process.execPath, SERVER_NODE_ARGS, {
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', BERTH_DATA_DIR: t.testdir(), BERTH_MIRRORS: '[{"prefix":"hub"}]' },
    stdio: ['pipe', 'ignore', 'pipe']
  })
  let stderr = ''
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
  t.teardown(() => { child.kill('SIGKILL') })
  const code = await new Promise<number | null>(resolve => child.once('exit', resolve))
  t.equal(code, 2)
  t.equal(stderr, 'berth: configuration error: BERTH_MIRRORS: entry 0: "upstream" must be a non-empty string\n')
})
