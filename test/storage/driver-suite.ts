// The storage-driver contract as one test suite, run against every driver (filesystem and S3 on MinIO).
import { Readable } from 'node:stream'
import type { Test } from 'tap'
import { InvalidOffsetError, NotFoundError, type StorageDriver } from '../../src/storage/driver.js'

async function collect (stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of stream) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}

function streamOf (...parts: string[]): Readable {
  return Readable.from(parts.map(p => Buffer.from(p)))
}

export function runDriverSuite (t: Test, makeDriver: () => Promise<StorageDriver>): void {
  t.test('write, read, stat and readAll round-trip the bytes', async t => {
    const d = await makeDriver()
    t.equal(await d.write('a/b/c', streamOf('hello ', 'world')), 11)
    t.equal((await d.readAll('a/b/c')).toString(), 'hello world')
    t.equal((await collect(await d.read('a/b/c'))).toString(), 'hello world')
    t.equal((await collect(await d.read('a/b/c', { start: 6, end: 10 }))).toString(), 'world')
    t.equal((await d.stat('a/b/c'))?.size, 11)
    t.equal(await d.stat('a/b/missing'), undefined)
    await t.rejects(d.readAll('a/b/missing'), NotFoundError)
    await t.rejects(d.read('nope/x'), NotFoundError)
  })

  t.test('stat gives the time of the last write (a tag\'s push time in the web UI)', async t => {
    const d = await makeDriver()
    // S3 keeps Last-Modified to the second: the window is widened by a second on each side.
    const before = Date.now() - 1000
    await d.write('time/v', Buffer.from('one'))
    const after = Date.now() + 1000
    const written = (await d.stat('time/v'))?.modifiedAt.getTime() ?? 0
    t.ok(written >= before && written <= after, `written at ${new Date(written).toISOString()}, between ${new Date(before).toISOString()} and ${new Date(after).toISOString()}`)
  })

  t.test('write replaces an object atomically and a failed write leaves the old one', async t => {
    const d = await makeDriver()
    await d.write('k/v', Buffer.from('one'))
    await d.write('k/v', Buffer.from('two'))
    t.equal((await d.readAll('k/v')).toString(), 'two')
    const failing = new Readable({
      read () {
        this.push(Buffer.from('partial'))
        this.destroy(new Error('client went away'))
      }
    })
    await t.rejects(d.write('k/v', failing), /client went away/)
    t.equal((await d.readAll('k/v')).toString(), 'two', 'half-written data never becomes visible')
  })

  t.test('list pages keys recursively in byte order with startAfter and limit', async t => {
    const d = await makeDriver()
    // 'p/a' is both an object and the prefix of other keys, as object stores allow.
    const keys = ['p/a/b', 'p/a', 'p/a-x', 'p/a/b/c', 'p/b', 'p/c/d', 'q/other']
    for (const k of keys) await d.write(k, Buffer.from('x'))
    const sorted = ['p/a', 'p/a-x', 'p/a/b', 'p/a/b/c', 'p/b', 'p/c/d']
    t.same(await d.list('p/', { limit: 100 }), { keys: sorted, truncated: false })
    t.same(await d.list('p/', { limit: 2 }), { keys: ['p/a', 'p/a-x'], truncated: true })
    t.same(await d.list('p/', { limit: 2, startAfter: 'p/a-x' }), { keys: ['p/a/b', 'p/a/b/c'], truncated: true })
    t.same(await d.list('p/', { limit: 2, startAfter: 'p/a/b/c' }), { keys: ['p/b', 'p/c/d'], truncated: false })
    t.same(await d.list('p/', { limit: 5, startAfter: 'p/c/d' }), { keys: [], truncated: false })
    t.same(await d.list('p/a/', { limit: 5 }), { keys: ['p/a/b', 'p/a/b/c'], truncated: false })
    t.same(await d.list('none/', { limit: 5 }), { keys: [], truncated: false })
  })

  t.test('delete and deletePrefix', async t => {
    const d = await makeDriver()
    await d.write('d/1', Buffer.from('x'))
    await d.write('d/sub/2', Buffer.from('x'))
    await d.write('e/3', Buffer.from('x'))
    t.equal(await d.delete('d/1'), true)
    t.equal(await d.delete('d/1'), false)
    await d.deletePrefix('d/')
    t.same((await d.list('d/', { limit: 10 })).keys, [])
    t.same((await d.list('e/', { limit: 10 })).keys, ['e/3'])
    await d.write('d/again', Buffer.from('y'))
    t.equal((await d.readAll('d/again')).toString(), 'y', 'a pruned prefix can be written again')
  })

  t.test('move replaces the target and removes the source', async t => {
    const d = await makeDriver()
    await d.write('m/src', Buffer.from('moved'))
    await d.write('m/dst', Buffer.from('old'))
    await d.move('m/src', 'm/dst')
    t.equal((await d.readAll('m/dst')).toString(), 'moved')
    t.equal(await d.stat('m/src'), undefined)
    await t.rejects(d.move('m/src', 'm/other'), NotFoundError)
  })

  t.test('createIfAbsent creates once', async t => {
    const d = await makeDriver()
    t.equal(await d.createIfAbsent('c/once', Buffer.from('first')), true)
    t.equal(await d.createIfAbsent('c/once', Buffer.from('second')), false)
    t.equal((await d.readAll('c/once')).toString(), 'first')
  })

  t.test('compareAndSwap succeeds only from the expected version', async t => {
    const d = await makeDriver()
    const v1 = await d.compareAndSwap('s/rec', undefined, Buffer.from('1'))
    t.type(v1, 'string')
    t.equal(await d.compareAndSwap('s/rec', undefined, Buffer.from('x')), undefined, 'absent expected, but present')
    const v2 = await d.compareAndSwap('s/rec', v1, Buffer.from('2'))
    t.type(v2, 'string')
    t.equal(await d.compareAndSwap('s/rec', v1, Buffer.from('3')), undefined, 'stale version is refused')
    const current = await d.readVersioned('s/rec')
    t.equal(current?.data.toString(), '2')
    t.equal(current?.version, v2)
  })

  t.test('concurrent compareAndSwap: exactly one writer wins each round', async t => {
    const d = await makeDriver()
    const start = await d.compareAndSwap('s/counter', undefined, Buffer.from('0'))
    const results = await Promise.all(Array.from({ length: 8 }, async (_, i) =>
      await d.compareAndSwap('s/counter', start, Buffer.from(String(i + 1)))))
    t.equal(results.filter(r => r !== undefined).length, 1)
  })

  t.test('append writes at an offset, discards a failed tail, and refuses gaps', async t => {
    const d = await makeDriver()
    t.equal(await d.append('u/data', 0, streamOf('abc')), 3)
    t.equal(await d.append('u/data', 3, streamOf('def')), 6)
    t.equal(await d.append('u/data', 3, streamOf('XY')), 5, 'rewriting from an earlier offset drops the old tail')
    t.equal((await d.readAll('u/data')).toString(), 'abcXY')
    await t.rejects(d.append('u/data', 9, streamOf('z')), InvalidOffsetError)
    t.equal(await d.append('u/data', 5, Readable.from([])), 5, 'an empty append keeps the data')
    t.equal(await d.append('u/data', 0, streamOf('new')), 3, 'offset 0 starts over')
    t.equal((await d.readAll('u/data')).toString(), 'new')
  })

  t.test('keys that could escape the store are refused', async t => {
    const d = await makeDriver()
    await t.rejects(d.write('../escape', Buffer.from('x')))
    await t.rejects(d.write('a/../../escape', Buffer.from('x')))
    await t.rejects(d.readAll('a//b'))
  })
}
