// The public test kit: in-process fakes for writing tests against Weft.
export { FakeControlPlane, xdsResource } from './fake-control-plane.js';
export type { FakeControlPlaneOptions, FakeResource, RecordedRequest, RecordedResponse } from './fake-control-plane.js';
