// Object names. A key is stored as the object `<key>!`. MinIO keeps objects as directories on disk and cannot
// list the keys under a name that is itself an object (`catalog/a` next to `catalog/a/b`), so no stored name
// may be the directory of another. '!' sorts below every character a key may hold, so names list in exactly
// the byte order of their keys, and `startAfter` maps to the name of the key.
//
// Everything the driver keeps besides keys lives under `~staging/<key>/`, a reserved namespace no listing of
// the registry can reach: append segments (`seg-<id>!`), multipart markers (`mpu-<id>!`) and intermediate
// compositions (`compose-<id>!`).
import type http from 'node:http'
import { InvalidKeyError } from '../../driver.js'

const KEY_SEGMENT = /^[A-Za-z0-9._=+-]+$/
export const NAME_SUFFIX = '!'
const STAGING = '~staging/'
/** Marks a staging record (see staging.ts); its size header holds the staged data's size. */
export const STAGED_HEADER = 'x-amz-meta-berth-staged'
export const SIZE_HEADER = 'x-amz-meta-berth-size'

/** The object that holds `key`; validates the key as the filesystem driver does ('~' and '!' are reserved). */
export function objectName (key: string): string {
  const segments = key.split('/')
  for (const segment of segments) {
    if (!KEY_SEGMENT.test(segment) || segment === '.' || segment === '..') throw new InvalidKeyError(key)
  }
  return key + NAME_SUFFIX
}

/** The name prefix of the keys under `prefix` (which ends with '/'). */
export function assertPrefix (prefix: string): void {
  if (!prefix.endsWith('/')) throw new InvalidKeyError(prefix)
  objectName(prefix.slice(0, -1))
}

/** The key a listed object name holds, or undefined for a name that holds none. */
export function keyOf (name: string | undefined): string | undefined {
  return name?.endsWith(NAME_SUFFIX) === true ? name.slice(0, -NAME_SUFFIX.length) : undefined
}

/** The staging area of one key. */
export function stagingDir (key: string): string {
  return `${STAGING}${key}/`
}

/** The staging area of every key under `prefix`. */
export function stagingPrefix (prefix: string): string {
  return STAGING + prefix
}

export function segmentName (key: string, id: string): string {
  return `${stagingDir(key)}seg-${id}${NAME_SUFFIX}`
}

export function markerName (dir: string, id: string): string {
  return `${dir}mpu-${id}${NAME_SUFFIX}`
}

/** The staging area that holds the markers of multipart uploads into the object `name` (a name of this driver). */
export function markerDirOf (name: string): string {
  return name.startsWith(STAGING) ? name.slice(0, name.lastIndexOf('/') + 1) : stagingDir(name.slice(0, -NAME_SUFFIX.length))
}

export function isMarker (name: string): boolean {
  return name.slice(name.lastIndexOf('/') + 1).startsWith('mpu-')
}

export function composeName (dir: string, id: string): string {
  return `${dir}compose-${id}${NAME_SUFFIX}`
}

export function isStaged (res: http.IncomingMessage): boolean {
  return res.headers[STAGED_HEADER] === '1'
}
