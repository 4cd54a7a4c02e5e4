// Which policy applies to which repository, and which policies are refused.
import t from 'tap'
import { globMatches, policyFor, validatePolicy, RetentionError, type RetentionPolicy } from '../../src/gc/retention.js'

t.test('globs: * within one component, ** across them', async t => {
  t.ok(globMatches('team/*', 'team/app'))
  t.notOk(globMatches('team/*', 'team/a/b'))
  t.notOk(globMatches('team/*', 'team'))
  t.ok(globMatches('team/**', 'team/a/b'))
  t.ok(globMatches('team/**', 'team'))
  t.notOk(globMatches('team/**', 'teams/a'))
  t.ok(globMatches('**', 'anything/at/all'))
  t.ok(globMatches('a.b/c', 'a.b/c'))
  t.notOk(globMatches('a.b/c', 'axb/c'), 'a dot is a dot')
})

t.test('the longest matching glob wins', async t => {
  const p = (name: string, repositories: string): RetentionPolicy => ({ name, repositories, keepReferrers: true })
  const policies = [p('all', '**'), p('team', 'team/**'), p('app', 'team/app')]
  t.equal(policyFor(policies, 'team/app')?.name, 'app')
  t.equal(policyFor(policies, 'team/web')?.name, 'team')
  t.equal(policyFor(policies, 'other/x')?.name, 'all')
  t.equal(policyFor([], 'x'), undefined)
})

t.test('bad policies are refused with a reason', async t => {
  const base = { name: 'ok', repositories: 'team/*', keepReferrers: true }
  t.throws(() => validatePolicy({ ...base, name: 'Bad Name' }), RetentionError)
  t.throws(() => validatePolicy({ ...base, repositories: 'team/[a]' }), RetentionError)
  t.throws(() => validatePolicy({ ...base, keepTags: '(' }), RetentionError)
  t.throws(() => validatePolicy({ ...base, keepLastTags: -1 }), RetentionError)
  t.same(validatePolicy({ ...base, keepLastTags: 3 }), { ...base, keepLastTags: 3 })
})
