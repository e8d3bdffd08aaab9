// Authorization (RBAC): compile decoded RBAC filters into predicate tables and match requests against them.
export { compileRbac, type AuthzRequest, type CompiledRbac, type JwtPayload } from './rbac-engine.js';
