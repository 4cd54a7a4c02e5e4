// Structural validation of pushed manifests (OCI image manifest / index, Docker schema 2 manifest / list)
// against the JSON Schemas in schemas/oci. The schemas are read and compiled once, when the first manifest is
// validated: ajv and the compiled validators cost a few MiB in every process, and many never take a push.
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import type { ErrorObject, ValidateFunction } from 'ajv'
import type { DockerManifest, DockerManifestList, ImageIndex, ImageManifest } from '../types/generated/index.js'

export const MediaTypes = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json'
} as const

export type ManifestMediaType = typeof MediaTypes[keyof typeof MediaTypes]

/** The generated document type for each manifest media type. */
export interface ManifestDocuments {
  [MediaTypes.ociManifest]: ImageManifest
  [MediaTypes.ociIndex]: ImageIndex
  [MediaTypes.dockerManifest]: DockerManifest
  [MediaTypes.dockerManifestList]: DockerManifestList
}

export type ManifestDocument<M extends ManifestMediaType = ManifestMediaType> = ManifestDocuments[M]

const MANIFEST_MEDIA_TYPES: ReadonlySet<string> = new Set<string>(Object.values(MediaTypes))

export function isManifestMediaType (s: string): s is ManifestMediaType {
  return MANIFEST_MEDIA_TYPES.has(s)
}

/** True for the media types whose documents list other manifests (OCI image index, Docker manifest list). */
export function isIndexMediaType (s: string): boolean {
  return s === MediaTypes.ociIndex || s === MediaTypes.dockerManifestList
}

// ---------------------------------------------------------------------------------------------------------
// Schema loading. `../../schemas` is right from both src/registry (tsx, tap) and dist/registry (build output).

const SCHEMA_FILES = {
  descriptor: 'descriptor.schema.json',
  [MediaTypes.ociManifest]: 'image-manifest.schema.json',
  [MediaTypes.ociIndex]: 'image-index.schema.json',
  [MediaTypes.dockerManifest]: 'docker-manifest.schema.json',
  [MediaTypes.dockerManifestList]: 'docker-manifest-list.schema.json'
} as const

interface LoadedSchema { $id: string, [k: string]: unknown }

function loadSchema (file: string): LoadedSchema {
  const url = new URL(`../../schemas/oci/${file}`, import.meta.url)
  const schema = JSON.parse(readFileSync(url, 'utf8')) as Partial<LoadedSchema>
  if (typeof schema.$id !== 'string') throw new Error(`schema ${url.pathname} has no $id`)
  return schema as LoadedSchema
}

type Validators = { [M in ManifestMediaType]: ValidateFunction<ManifestDocument<M>> }

let validators: Validators | undefined

/** Loads ajv (CommonJS, so it can be required synchronously on first use) and compiles the schemas. */
function compileValidators (): Validators {
  const require = createRequire(import.meta.url)
  const { Ajv } = require('ajv') as typeof import('ajv')
  // ajv-formats' module.exports is the plugin, and so is its `.default`.
  const addFormats = (require('ajv-formats') as typeof import('ajv-formats')).default
  const ajv = new Ajv({ allErrors: false, strict: false })
  addFormats(ajv, ['uri'])

  const schemas = Object.fromEntries(
    Object.entries(SCHEMA_FILES).map(([key, file]) => [key, loadSchema(file)])
  ) as Record<keyof typeof SCHEMA_FILES, LoadedSchema>
  // Register every schema first so the relative "descriptor.schema.json" $refs resolve via the $ids.
  ajv.addSchema(Object.values(schemas))

  const validatorFor = <M extends ManifestMediaType>(mediaType: M): ValidateFunction<ManifestDocument<M>> => {
    const validate = ajv.getSchema<ManifestDocument<M>>(schemas[mediaType].$id)
    if (validate === undefined) throw new Error(`no schema compiled for ${mediaType}`)
    return validate
  }
  return {
    [MediaTypes.ociManifest]: validatorFor(MediaTypes.ociManifest),
    [MediaTypes.ociIndex]: validatorFor(MediaTypes.ociIndex),
    [MediaTypes.dockerManifest]: validatorFor(MediaTypes.dockerManifest),
    [MediaTypes.dockerManifestList]: validatorFor(MediaTypes.dockerManifestList)
  }
}

// ---------------------------------------------------------------------------------------------------------
// Error messages

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/

/** "/layers/0/digest" -> "layers[0].digest"; keys that are not identifiers are quoted: annotations["org.x"]. */
function pointerToPath (pointer: string): string {
  if (pointer === '') return ''
  let out = ''
  for (const raw of pointer.slice(1).split('/')) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~')
    if (/^(?:0|[1-9]\d*)$/.test(key)) out += `[${key}]`
    else if (IDENTIFIER.test(key)) out += out === '' ? key : `.${key}`
    else out += `[${JSON.stringify(key)}]`
  }
  return out
}

function describe (error: ErrorObject): string {
  let path = pointerToPath(error.instancePath)
  let message = error.message ?? 'is invalid'
  switch (error.keyword) {
    case 'required': {
      const missing = String((error.params as { missingProperty: string }).missingProperty)
      path = pointerToPath(`${error.instancePath}/${missing.replace(/~/g, '~0').replace(/\//g, '~1')}`)
      message = 'is required'
      break
    }
    case 'const':
      message = `must be ${JSON.stringify((error.params as { allowedValue: unknown }).allowedValue)}`
      break
    case 'enum':
      message = `must be one of ${((error.params as { allowedValues: unknown[] }).allowedValues).map((v) => JSON.stringify(v)).join(', ')}`
      break
  }
  return `${path === '' ? 'manifest' : path}: ${message}`
}

/** How many distinct problems a message names at most. */
const MAX_REPORTED = 3

/**
 * Returns undefined when valid, otherwise a short human message naming the first problem(s)
 * (e.g. "layers[0].digest: must match pattern ...").
 */
export function validateManifest (mediaType: ManifestMediaType, doc: unknown): string | undefined {
  validators ??= compileValidators()
  const validate = validators[mediaType] as ValidateFunction | undefined
  if (validate === undefined) return `unsupported manifest media type ${JSON.stringify(mediaType)}`
  if (validate(doc)) return undefined
  const messages = [...new Set((validate.errors ?? []).map(describe))]
  if (messages.length === 0) return 'manifest: is invalid'
  return messages.slice(0, MAX_REPORTED).join('; ')
}

/** Type-guard form of validateManifest: narrows `doc` to the generated type for `mediaType`. */
export function isValidManifest<M extends ManifestMediaType> (mediaType: M, doc: unknown): doc is ManifestDocument<M> {
  return validateManifest(mediaType, doc) === undefined
}
