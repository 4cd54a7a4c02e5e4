// Users, tokens and permissions for every API surface. See service.ts for the API the surfaces call, and
// README.md ("Users, namespaces and tokens") for the model.
export { createAuth, ANONYMOUS, type Auth, type Decision, type Identity } from './service.js'
export { AuthError, authErrorView, type AuthErrorView, type AuthFailure } from './errors.js'
export { tokenEndpoint, type TokenResponse } from './token-endpoint.js'
export { requestSerializer, redactUrl } from './log.js'
export { namespaceOf, EVERY_USER, VISIBILITIES, type NamespacePolicy, type Visibility } from './policy.js'
export { CATALOG_SCOPE, parseScopes, repositoryScope, type AccessEntry, type RepositoryAction } from './scopes.js'
export { isValidUsername, type User } from './users.js'
export type { VerifiedToken } from './tokens.js'
