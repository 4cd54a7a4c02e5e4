// Requests Fastify rejects before routing (malformed percent-encoding) and long path parameters must still
// be answered in the CNR dialect under /cnr and /api/v1, and in the OCI one under /v2.
import t from 'tap'
import { buildTestApp } from '../helpers/app.js'
import { rawRequest } from '../oci/helpers.js'

t.test('malformed percent-encoding gets the CNR error body under /cnr and /api/v1, the OCI one under /v2', async t => {
  const { app } = await buildTestApp(t)
  for (const path of ['/cnr/api/v1/packages/a%ZZ/b', '/api/v1/packages/a%ZZ/b']) {
    const res = await rawRequest(app, 'GET', path)
    t.equal(res.statusCode, 400, path)
    const body = JSON.parse(res.body) as { code: string, message: string, details: unknown }
    t.equal(body.code, 'invalid-usage', `${path}: CNR error code`)
    t.match(body.message, /not a valid url component/)
    t.type(body.details, 'object')
  }
  const oci = await rawRequest(app, 'GET', '/v2/a%ZZ/tags/list')
  t.equal(oci.statusCode, 400)
  t.equal(JSON.parse(oci.body).errors[0].code, 'INVALID_REQUEST')
})

t.test('a 150-character package name reaches the CNR handlers (no 414)', async t => {
  const { app } = await buildTestApp(t)
  const name = `ns/${'a'.repeat(150)}`
  const res = await app.inject({ method: 'GET', url: `/api/v1/packages/${name}` })
  t.equal(res.statusCode, 404)
  t.same(res.json().code, 'package-not-found')
  t.equal(res.json().details.package, name)
})
