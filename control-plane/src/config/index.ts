// The control plane's configuration layer: kinds, schemas, parsing, validation, typed views and the directory store.
export * from './kinds.js';
export * from './duration.js';
export type { ResourceMetadataSpec, ParentRef, BackendRef, HeaderMatch, StringMatchType, RouteTimeouts } from './schema.js';
export type { ServiceSpec, ServicePort, StaticEndpoint, EndpointLocality, PortProtocol } from './service-schema.js';
export { HTTP_METHODS } from './http-route-schema.js';
export type { HTTPRouteSpec, HTTPRouteRule, HTTPRouteMatch, HTTPPathMatch, PathMatchType, HTTPMethod } from './http-route-schema.js';
export type { GRPCRouteSpec, GRPCRouteRule, GRPCRouteMatch, GRPCMethodMatch } from './grpc-route-schema.js';
export type { AuthorizationPolicySpec, AuthorizationRule, AuthorizationSource, AuthorizationOperation, AuthorizationCondition } from './authorization-policy-schema.js';
export type { RequestAuthenticationSpec, JwtRuleSpec, JwtHeaderLocation } from './request-authentication-schema.js';
export type { LocalRateLimitSpec, RateLimitRoute, RateLimitRouteMatch, TokenBucketConfig } from './local-rate-limit-schema.js';
export type { ServiceTargetRef } from './inbound-schema.js';
export { parseConfigText, parseConfigDocuments, type ParsedDocument, type ParsedDocuments } from './parse.js';
export { validateConfig } from './validate.js';
export { planApply, previewApply, type ApplyPlan } from './plan.js';
export { checkRegex } from './regex.js';
export * from './mesh-config.js';
export { openDirStore, type DirStoreOptions } from './dir-store.js';
