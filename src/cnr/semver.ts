// Releases: strict SemVer 2.0 strings, ordered by SemVer precedence, stored as OCI tags, and selected by
// the release queries of appr/semver.py (python semantic_version `Spec`):
//   - `default` (or nothing): the highest release, pre-releases included;
//   - otherwise comma-separated clauses such as `>1.2`, `>=0.3.0-,<0.6.0`, `==1.0.1` or a bare `1.0.1`,
//     with partial versions (`>1.2` compares major and minor only), `^`, `~` and `~=`;
//   - pre-releases are candidates only when the query text contains '-'.
import semver from 'semver'
import { invalidRelease } from './errors.js'

/** OCI tags are at most 128 characters. */
const MAX_RELEASE_LENGTH = 128

/**
 * Why `s` is not a release, or undefined when it is one: a strict SemVer 2.0 version (no `v` prefix, no
 * partial versions, numeric parts the semver library can hold, i.e. at most 2^53 - 1) that fits in an OCI tag.
 */
export function releaseProblem (s: string): string | undefined {
  if (s.length > MAX_RELEASE_LENGTH) return `a release is at most ${MAX_RELEASE_LENGTH} characters long`
  // semver.parse accepts a leading 'v' and surrounding blanks, which a release may not have.
  if (!/^[0-9][0-9A-Za-z.+-]*$/.test(s)) return 'a release must be a SemVer 2.0 version such as 1.2.3'
  const numbers = /^(\d+)\.(\d+)\.(\d+)/.exec(s)?.slice(1) ?? []
  if (numbers.some(n => !Number.isSafeInteger(Number(n)))) return `the numbers of a release may not be larger than ${Number.MAX_SAFE_INTEGER}`
  if (semver.parse(s) !== null) return undefined
  return 'a release must be a SemVer 2.0 version such as 1.2.3'
}

/** True for a release (see releaseProblem). Any stored tag that is not one is not a release, so never listed. */
export function isRelease (s: string): boolean {
  return releaseProblem(s) === undefined
}

export function isPrerelease (release: string): boolean {
  return semver.prerelease(release) !== null
}

/** SemVer precedence, then build metadata, so that sorting is total. */
export function compareReleases (a: string, b: string): number {
  return semver.compareBuild(a, b)
}

/** The releases, highest first; anything that is not a release (a record written by an older Berth) is left out. */
export function sortReleasesDesc (releases: Iterable<string>): string[] {
  return [...releases].filter(isRelease).sort((a, b) => compareReleases(b, a))
}

/** OCI tags cannot hold '+', so build metadata is written with '_' (as helm does); SemVer never contains '_'. */
export function releaseToTag (release: string): string {
  return release.replaceAll('+', '_')
}

/** The release an OCI tag stands for, or undefined when the tag is not a release. */
export function tagToRelease (tag: string): string | undefined {
  const release = tag.replaceAll('_', '+')
  return isRelease(release) ? release : undefined
}

/**
 * True when a name could be read as a version by a CNR or Helm client (`1.2.3`, `1.2`, `v1`, `1.0.0_b`...).
 * Channel names must not be: a channel is an OCI tag, and helm treats version-like tags as chart versions.
 */
export function looksLikeVersion (name: string): boolean {
  return tagToRelease(name) !== undefined || /^[vV]?\d+(?:\.\d+){0,2}(?:[-+_.].*)?$/.test(name)
}

interface PartialVersion {
  major: number
  minor?: number
  patch?: number
  /** Undefined: not given (ignored when comparing). Empty: given as a trailing '-', meaning the release itself. */
  prerelease?: string[]
}

type Operator = '<' | '<=' | '==' | '>=' | '>' | '!=' | '^' | '~' | '~='

interface Clause {
  op: Operator
  version: PartialVersion
}

const CLAUSE = /^(<=|<|==|=|>=|>|!=|\^|~=|~)?(\d+)(?:\.(\d+)(?:\.(\d+))?)?(?:-([0-9A-Za-z.-]*))?(?:\+[0-9A-Za-z.-]*)?$/

function parseClause (text: string): Clause | undefined {
  const m = CLAUSE.exec(text)
  if (m === null) return undefined
  const op = (m[1] === undefined || m[1] === '=' ? '==' : m[1]) as Operator
  // Numbers the semver library cannot hold, and pre-releases it cannot parse, make no query.
  if ([m[2], m[3], m[4]].some(n => n !== undefined && !Number.isSafeInteger(Number(n)))) return undefined
  const version: PartialVersion = { major: Number(m[2]) }
  if (m[3] !== undefined) version.minor = Number(m[3])
  if (m[4] !== undefined) version.patch = Number(m[4])
  if (m[5] !== undefined) {
    if (version.patch === undefined) return undefined // a pre-release needs a full version
    if (m[5] !== '' && semver.parse(`0.0.0-${m[5]}`) === null) return undefined
    version.prerelease = m[5] === '' ? [] : m[5].split('.')
  }
  return { op, version }
}

/** Compares a release with a partial version on the fields the partial version gives. */
function comparePartial (release: string, spec: PartialVersion): number {
  const v = semver.parse(release)
  if (v === null) return Number.NaN
  const fields: Array<[number, number | undefined]> = [[v.major, spec.major], [v.minor, spec.minor], [v.patch, spec.patch]]
  for (const [actual, wanted] of fields) {
    if (wanted === undefined) return 0
    if (actual !== wanted) return actual < wanted ? -1 : 1
  }
  if (spec.prerelease === undefined) return 0
  const target = `${spec.major}.${spec.minor ?? 0}.${spec.patch ?? 0}${spec.prerelease.length > 0 ? `-${spec.prerelease.join('.')}` : ''}`
  return semver.compare(`${v.major}.${v.minor}.${v.patch}${v.prerelease.length > 0 ? `-${v.prerelease.join('.')}` : ''}`, target)
}

/** The exclusive upper bound of `^`, `~` and `~=` ranges. */
function upperBound (op: '^' | '~' | '~=', s: PartialVersion): PartialVersion {
  const minor = s.minor ?? 0
  const patch = s.patch ?? 0
  if (op === '^') {
    if (s.major !== 0 || s.minor === undefined) return { major: s.major + 1, minor: 0, patch: 0, prerelease: [] }
    if (minor !== 0 || s.patch === undefined) return { major: 0, minor: minor + 1, patch: 0, prerelease: [] }
    return { major: 0, minor: 0, patch: patch + 1, prerelease: [] }
  }
  if (op === '~') {
    return s.minor === undefined ? { major: s.major + 1, minor: 0, patch: 0, prerelease: [] } : { major: s.major, minor: minor + 1, patch: 0, prerelease: [] }
  }
  // ~= (compatible release): drop the last given field and bump the one before it.
  return s.patch === undefined ? { major: s.major + 1, minor: 0, patch: 0, prerelease: [] } : { major: s.major, minor: minor + 1, patch: 0, prerelease: [] }
}

function matches (release: string, { op, version }: Clause): boolean {
  const c = comparePartial(release, version)
  switch (op) {
    case '<': return c < 0
    case '<=': return c <= 0
    case '==': return c === 0
    case '>=': return c >= 0
    case '>': return c > 0
    case '!=': return c !== 0
    default: return c >= 0 && comparePartial(release, upperBound(op, version)) < 0
  }
}

export interface ReleaseQuery {
  /** The query as the client sent it. */
  text: string
  /** True for `default`: the highest release wins. */
  isDefault: boolean
  test: (release: string) => boolean
}

/** Parses a release query. Throws invalid-release (422) when it is not one (`abc`, `latest`, `1.a.1`). */
export function parseReleaseQuery (text: string | undefined): ReleaseQuery {
  if (text === undefined || text === '' || text === 'default') {
    return { text: text ?? 'default', isDefault: true, test: () => true }
  }
  const clauses = text.replace(/\s+/g, '').split(',').map(parseClause)
  if (clauses.length === 0 || clauses.some(c => c === undefined)) throw invalidRelease(text, 'release', 'not a version or version range')
  const stableOnly = !text.includes('-')
  const parsed = clauses as Clause[]
  return {
    text,
    isDefault: false,
    test: release => (!stableOnly || !isPrerelease(release)) && parsed.every(c => matches(release, c))
  }
}

/** The releases a query selects, best first (a query may name several; the caller takes the first that exists). */
export function selectReleases (releases: Iterable<string>, query: ReleaseQuery): string[] {
  return sortReleasesDesc(releases).filter(query.test)
}
