// The public test kit: in-process fakes for writing tests against Weft.
export { FakeControlPlane, xdsResource } from './fake-control-plane.js';
export type { FakeControlPlaneOptions, FakeResource, RecordedRequest, RecordedResponse } from './fake-control-plane.js';
/** A scriptable gRPC echo service (all four call types; failures, delays and deadlines driven by the request). */
export { ECHO_SERVICE, EchoClient, echoService, echoHandlers, addEchoService, say } from './grpc-echo.js';
export type { EchoRequest, EchoReply, EchoStats, EchoClientInstance } from './grpc-echo.js';
/** A seeded random source (Mulberry32) for the `random` options of the mesh, dispatcher and policies. */
export { seededRandom } from './seeded-random.js';
/** A test JWT issuer: key pair, JWK Set, signed and deliberately broken tokens. */
export { createTestIssuer } from './jwt-issuer.js';
export type { TestIssuer, TestIssuerOptions, TestTokenOptions } from './jwt-issuer.js';
/** A manual clock (nowMs, setTimer, advance) for the injectable clocks of the identity, CA and registry. */
export { FakeClock, type FakeTimer } from './fake-clock.js';
