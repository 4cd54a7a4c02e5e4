// The path mapper: the only module that knows the storage key layout.
//
//   blobs/<alg>/<hex[0:2]>/<hex>                         blob and manifest bytes, content-addressed, stored once
//   repositories/<name>/_layers/<alg>/<hex>              the repository links a blob: {"size"}
//   repositories/<name>/_manifests/<alg>/<hex>           the repository holds a manifest: {"mediaType","size",...}
//   repositories/<name>/_tags/<tag>                      a tag: {"digest","mediaType","size"}
//   repositories/<name>/_tagged/<alg>/<hex>/<tag>        reverse index: the tags that point at a manifest
//   repositories/<name>/_referrers/<alg>/<hex>/<alg>-<hex>   descriptor of a referrer of subject <alg>:<hex>
//   catalog/<name>                                       the repository exists
//   uploads/<id>/state, uploads/<id>/data                an upload session and the bytes received so far
//
// Each listing the API pages through is one prefix: tags (`_tags/`), referrers of a subject, the catalog
// (whose keys sort exactly as the names do). Repository name components never start with '_', so `_tags`
// and friends cannot collide with a nested repository name.
import { parseDigest } from '../registry/digest.js'

const repo = (name: string): string => `repositories/${name}`
const digestPath = (digest: string): string => {
  const { algorithm, encoded } = parseDigest(digest)
  return `${algorithm}/${encoded}`
}

export const paths = {
  blob: (digest: string): string => {
    const { algorithm, encoded } = parseDigest(digest)
    return `blobs/${algorithm}/${encoded.slice(0, 2)}/${encoded}`
  },
  layerLink: (name: string, digest: string): string => `${repo(name)}/_layers/${digestPath(digest)}`,
  manifestLink: (name: string, digest: string): string => `${repo(name)}/_manifests/${digestPath(digest)}`,
  manifestsPrefix: (name: string): string => `${repo(name)}/_manifests/`,

  tag: (name: string, tag: string): string => `${repo(name)}/_tags/${tag}`,
  tagsPrefix: (name: string): string => `${repo(name)}/_tags/`,
  tagFromKey: (name: string, key: string): string => key.slice(`${repo(name)}/_tags/`.length),

  taggedEntry: (name: string, digest: string, tag: string): string => `${repo(name)}/_tagged/${digestPath(digest)}/${tag}`,
  taggedPrefix: (name: string, digest: string): string => `${repo(name)}/_tagged/${digestPath(digest)}/`,

  referrer: (name: string, subject: string, referrer: string): string => {
    const { algorithm, encoded } = parseDigest(referrer)
    return `${paths.referrersPrefix(name, subject)}${algorithm}-${encoded}`
  },
  referrersPrefix: (name: string, subject: string): string => `${repo(name)}/_referrers/${digestPath(subject)}/`,

  catalogEntry: (name: string): string => `catalog/${name}`,
  catalogPrefix: 'catalog/',
  catalogNamespacePrefix: (namespace: string): string => `catalog/${namespace}/`,
  nameFromCatalogKey: (key: string): string => key.slice('catalog/'.length),

  uploadState: (id: string): string => `uploads/${id}/state`,
  uploadData: (id: string): string => `uploads/${id}/data`,
  uploadPrefix: (id: string): string => `uploads/${id}/`,
  uploadsPrefix: 'uploads/',
  uploadIdFromKey: (key: string): string => key.split('/')[1] ?? '',

  // ---- users, permissions and token signing (src/auth) -----------------------------------------------------
  //   auth/users/<username>        a user: {username, password (scrypt hash string), admin, gen, createdAt, updatedAt}
  //   auth/policies/<namespace>    who besides the owner may use a namespace: {read: [user|"*"], write: [user|"*"]}
  //   auth/visibility/<name>       a repository's visibility: {visibility: "public"|"private"} (absent: the default)
  //   auth/signing-key             the HS256 key every replica signs and verifies tokens with: {kid, secret}
  //   auth/signed-out/<hour>/<jti> a signed-out web UI session (empty); <hour> is when its token expires
  authUser: (username: string): string => `auth/users/${username}`,
  authUsersPrefix: 'auth/users/',
  authUserFromKey: (key: string): string => key.slice('auth/users/'.length),
  authPolicy: (namespace: string): string => `auth/policies/${namespace}`,
  authPoliciesPrefix: 'auth/policies/',
  authPolicyFromKey: (key: string): string => key.slice('auth/policies/'.length),
  authVisibility: (name: string): string => `auth/visibility/${name}`,
  authVisibilityPrefix: 'auth/visibility/',
  authVisibilityFromKey: (key: string): string => key.slice('auth/visibility/'.length),
  authSigningKey: 'auth/signing-key',
  authSignedOut: (expiryHour: string, tokenId: string): string => `auth/signed-out/${expiryHour}/${tokenId}`,
  authSignedOutPrefix: 'auth/signed-out/',

  // ---- CNR/APPR facade (src/cnr) --------------------------------------------------------------------------
  // A CNR package `<ns>/<name>` is the OCI repository of that name; these records index and annotate it.
  //   cnr/packages/<ns>/<name>                 package summary for list pages: {name, createdAt, releases}
  //   cnr/channels/<ns>/<name>                 channel membership: {channels: {<channel>: {current, releases}}}
  //   cnr/locks/<ns>/<name>                    lease that serialises the writes to one package
  //   cnr/deleted/<ns>/<name>/<tag>/<type>     a deleted release and media type: {digest, deletedAt}
  //   cnr/search/<gram hex>/<ns>/<name>        search postings: the name contains this 1-, 2- or 3-gram
  //   cnr/blobs/<ns>/<name>/<cnr hex>          CNR digest (sha256 of the gunzipped tar) -> OCI layer digest
  //   cnr/digests/<alg>/<hex>                  CNR digest of an OCI blob, computed once
  cnrPackage: (name: string): string => `cnr/packages/${name}`,
  cnrPackagesPrefix: 'cnr/packages/',
  cnrChannels: (name: string): string => `cnr/channels/${name}`,
  cnrLock: (name: string): string => `cnr/locks/${name}`,
  cnrDeleted: (name: string, tag: string, mediaType: string): string => `cnr/deleted/${name}/${tag}/${mediaType}`,
  cnrDeletedPrefix: (name: string): string => `cnr/deleted/${name}/`,
  cnrSearchPosting: (gramHex: string, name: string): string => `cnr/search/${gramHex}/${name}`,
  cnrSearchPrefix: (gramHex: string): string => `cnr/search/${gramHex}/`,
  cnrBlob: (name: string, cnrHex: string): string => `cnr/blobs/${name}/${cnrHex}`,
  cnrDigest: (digest: string): string => `cnr/digests/${digestPath(digest)}`,

  // ---- immutable tags and quotas (src/governance) ---------------------------------------------------------
  //   governance/namespaces/<ns>                              a namespace's rules: {immutable: [glob], quotaBytes?}
  //   governance/usage/<ns>/total                             bytes the namespace holds: {usedBytes, recountedAt?}
  //   governance/usage/<ns>/digests/<alg>/<hex>               the namespace holds this blob or manifest: {size}
  //   governance/usage/<ns>/holders/<alg>/<hex>/<kind>/<name> repository <name> links it as a layer or manifest
  // Usage records are kept live for namespaces with a quota, and written by a measurement (recount) for any other;
  // each digest counts once however many repositories hold it.
  governanceNamespace: (namespace: string): string => `governance/namespaces/${namespace}`,
  governanceNamespacesPrefix: 'governance/namespaces/',
  governanceNamespaceFromKey: (key: string): string => key.slice('governance/namespaces/'.length),
  usageRoot: 'governance/usage/',
  usagePrefix: (namespace: string): string => `governance/usage/${namespace}/`,
  usageTotal: (namespace: string): string => `governance/usage/${namespace}/total`,
  usageDigestsPrefix: (namespace: string): string => `governance/usage/${namespace}/digests/`,
  usageAllHoldersPrefix: (namespace: string): string => `governance/usage/${namespace}/holders/`,
  /** The layer links of a repository (read to recount usage), and the digest a layer or manifest link key names. */
  layersPrefix: (name: string): string => `${repo(name)}/_layers/`,
  digestFromLinkKey: (key: string): string => key.split('/').slice(-2).join(':'),
  usageDigest: (namespace: string, digest: string): string => `governance/usage/${namespace}/digests/${digestPath(digest)}`,
  usageHoldersPrefix: (namespace: string, digest: string): string => `governance/usage/${namespace}/holders/${digestPath(digest)}/`,
  usageHolder: (namespace: string, digest: string, kind: 'layer' | 'manifest', name: string): string =>
    `governance/usage/${namespace}/holders/${digestPath(digest)}/${kind}/${name}`,

  // ---- webhooks (src/webhooks) ----------------------------------------------------------------------------
  // One queue per receiver URL; a delivery id is `<url key>/<event id>`, where the url key is the first 16 hex
  // digits of the URL's sha256 and event ids sort by creation time, so each queue lists oldest first.
  //   webhooks/outbox/<url key>/<event id>   a delivery to make: {url, type, body, attempts, nextAttemptAt, lease?, lastError?}
  //   webhooks/failed/<url key>/<event id>   a delivery that used up its attempts: the same record, with failedAt
  webhookOutboxPrefix: 'webhooks/outbox/',
  webhookFailedPrefix: 'webhooks/failed/',
  webhookQueuePrefix: (urlKey: string): string => `webhooks/outbox/${urlKey}/`,
  webhookFailedQueuePrefix: (urlKey: string): string => `webhooks/failed/${urlKey}/`,

  // ---- garbage collection and retention (src/gc) ----------------------------------------------------------
  //   gc/marks/<alg>/<hex>                        liveness mark pushes refresh: {refreshedAt} or {condemnedUntil, run}
  //   gc/lease                                    the replica collecting now: {holder, expiresAt}
  //   gc/runs/<run>/started                       scratch of one run: when it started (crashed runs' scratch goes later)
  //   gc/runs/<run>/reachable/<alg>/<hex>         scratch of one run: a kept link or manifest references the digest
  //   gc/runs/<run>/repo/<name>/_refs/<alg>/<hex> scratch of one run: a kept manifest of <name> references it
  //   gc/retention/<policy>                       a retention policy: {repositories, keepLastTags, keepTags, ...}
  gcMark: (digest: string): string => `gc/marks/${digestPath(digest)}`,
  gcLease: 'gc/lease',
  gcRunPrefix: (run: string): string => `gc/runs/${run}/`,
  gcRunsPrefix: 'gc/runs/',
  gcRunStarted: (run: string): string => `gc/runs/${run}/started`,
  gcReachable: (run: string, digest: string): string => `gc/runs/${run}/reachable/${digestPath(digest)}`,
  gcRepoRef: (run: string, name: string, digest: string): string => `gc/runs/${run}/repo/${name}/_refs/${digestPath(digest)}`,
  gcRepoPrefix: (run: string, name: string): string => `gc/runs/${run}/repo/${name}/_refs/`,
  gcRetention: (policy: string): string => `gc/retention/${policy}`,
  gcRetentionPrefix: 'gc/retention/',
  gcRetentionFromKey: (key: string): string => key.slice('gc/retention/'.length),

  // ---- mirror cache (src/mirror/cache.ts) -------------------------------------------------------------------
  //   mirror/cache/<name>/_checked/<tag>   when a mirrored tag was last checked upstream: {checkedAt, digest}
  //   mirror/cache/<name>/_referrers/<alg>/<hex>   when the referrers of a mirrored subject were last asked for: {checkedAt}
  mirrorTagChecked: (name: string, tag: string): string => `mirror/cache/${name}/_checked/${tag}`,
  mirrorReferrersChecked: (name: string, subject: string): string => `mirror/cache/${name}/_referrers/${digestPath(subject)}`,

  // ---- mirror sync (src/mirror/sync.ts, src/mirror/replicate.ts) -----------------------------------------------
  //   mirror/sync/<mirror>/lease                          the replica syncing the mirror now: {holder, expiresAt}
  //   mirror/sync/<mirror>/status                         the last run: {startedAt, finishedAt, result, copied, lastError?}
  //   mirror/sync/<mirror>/copied/<repository>/<tag>      the digest last copied for an upstream tag: {digest, copiedAt}
  //   mirror/replication/<rule>/status                    the last push: {at, result, pushed, lastError?}
  //   mirror/replication/<rule>/outbox/<id>               a copy to push: {repository, digest, tags, attempts, lease?, ...}
  //   mirror/replication/<rule>/failed/<id>               a copy that used up its attempts: the same record
  // Ids sort by creation time (<13-digit epoch ms>-<sequence>-<random>; before, <13-digit epoch ms>-<random>), so
  // an outbox lists oldest first. The outboxes are durable queues (src/queue/durable-queue.ts).
  mirrorSyncLease: (mirror: string): string => `mirror/sync/${mirror}/lease`,
  mirrorSyncStatus: (mirror: string): string => `mirror/sync/${mirror}/status`,
  mirrorSyncCopied: (mirror: string, repository: string, tag: string): string => `mirror/sync/${mirror}/copied/${repository}/${tag}`,
  replicationStatus: (rule: string): string => `mirror/replication/${rule}/status`,
  replicationOutboxPrefix: (rule: string): string => `mirror/replication/${rule}/outbox/`,
  replicationFailedPrefix: (rule: string): string => `mirror/replication/${rule}/failed/`
} as const
