// What makes an image "signed" for `onlySigned`: a signature referrer (cosign's or notation's artifact type), or
// a signature in cosign's tag scheme (`sha256-<hex>.sig`, which cosign writes to registries without referrers).
import type { Descriptor } from '../types/generated/index.js'

export const SIGNATURE_ARTIFACT_TYPES: ReadonlySet<string> = new Set([
  'application/vnd.dev.cosign.artifact.sig.v1+json',
  'application/vnd.cncf.notary.signature'
])

/** cosign's tags for a digest's signature, attestations and SBOM; `$1` is the subject's sha256 hex. */
export const COSIGN_TAG = /^sha256-([0-9a-f]{64})\.(?:sig|att|sbom)$/

/** The OCI referrers tag schema's tag (an index of a subject's referrers, where the referrers API is absent). */
export const REFERRERS_SCHEMA_TAG = /^sha256-[0-9a-f]{64}$/

export function cosignSignatureTag (digest: string): string {
  return `${digest.replace(':', '-')}.sig`
}

export function isSignature (descriptor: Descriptor): boolean {
  return descriptor.artifactType !== undefined && SIGNATURE_ARTIFACT_TYPES.has(descriptor.artifactType)
}

/** Whether `digest` in `repo` has a signature: by its cosign tag among `tags`, else by its referrers. */
export async function isSigned (source: { referrers: (repo: string, digest: string) => Promise<Descriptor[]> },
  repo: string, digest: string, tags: ReadonlySet<string>): Promise<boolean> {
  if (tags.has(cosignSignatureTag(digest))) return true
  return (await source.referrers(repo, digest)).some(isSignature)
}
