// Fault injection (Envoy HTTP fault filter, gRFC A33): the transport-neutral decisions; adapters live in client/*.
export {
  describeFault,
  effectiveFaults,
  FaultInjector,
  grpcStatusForHttp,
  httpStatusForGrpc,
  PROCESS_ACTIVE_FAULTS,
  type ActiveFaults,
  type FaultAbort,
  type FaultDecision,
  type FaultInjectorOptions,
  type HeaderGetter,
} from './fault-injector.js';
