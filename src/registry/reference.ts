// The OCI distribution-spec grammars for repository names and tags (one copy for the whole project).
import { RegistryError } from '../errors/registry-error.js'

const NAME = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$/
const TAG = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/
const MAX_NAME_LENGTH = 255
// One short of the 255 bytes a file name may have: the filesystem store marks object files with a suffix.
const MAX_COMPONENT_LENGTH = 254

export function isValidName (name: string): boolean {
  return name.length <= MAX_NAME_LENGTH && NAME.test(name) && name.split('/').every(c => c.length <= MAX_COMPONENT_LENGTH)
}

export function isValidTag (tag: string): boolean {
  return TAG.test(tag)
}

export function assertValidName (name: string): void {
  if (!isValidName(name)) throw new RegistryError('name-invalid', `invalid repository name "${name}"`, { name })
}

export function assertValidTag (tag: string): void {
  if (!isValidTag(tag)) throw new RegistryError('tag-invalid', `invalid tag "${tag}"`, { tag })
}
