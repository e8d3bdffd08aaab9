// A scriptable gRPC echo service for tests (JSON messages, no .proto needed): all four call types, with failures,
// delays and deadline reporting driven by the request, so a test states what a backend does in the call itself.
import * as grpc from '@grpc/grpc-js';

/** The service's full name. */
export const ECHO_SERVICE = 'weft.test.Echo';

/** What a call asks the echo server to do. Every field is optional. */
export interface EchoRequest {
  readonly text?: string;
  /** Fail with this gRPC status code while the attempt number (1-based, from grpc-previous-rpc-attempts) is below `untilAttempt`. */
  readonly fail?: { readonly code: number; readonly untilAttempt?: number; readonly details?: string };
  /** Wait this long before answering (stops early when the call is cancelled or its deadline passes). */
  readonly delayMs?: number;
  /** Count: how many replies to stream (default 3), `intervalMs` apart. */
  readonly count?: number;
  readonly intervalMs?: number;
}

/** What the echo server answers. */
export interface EchoReply {
  /** The answering server's name. */
  readonly server: string;
  readonly text: string;
  /** 1-based attempt number the server saw. */
  readonly attempt: number;
  /** Stream index (Count), or messages received (Collect). */
  readonly index?: number;
  /** Ms left of the caller's deadline when the call arrived; absent without one. */
  readonly deadlineMs?: number;
  /** The request's `x-*` metadata (string values). */
  readonly headers: Readonly<Record<string, string>>;
}

/** What every server call has (grpc-js does not export its ServerSurfaceCall type by name). */
interface SurfaceCall {
  readonly metadata: grpc.Metadata;
  readonly cancelled: boolean;
  getDeadline(): grpc.Deadline;
  once(event: 'cancelled', fn: () => void): unknown;
  off(event: 'cancelled', fn: () => void): unknown;
}

const json = {
  serialize: (value: unknown): Buffer => Buffer.from(JSON.stringify(value)),
  deserialize: (bytes: Buffer): unknown => JSON.parse(bytes.toString()),
};

function method(name: string, requestStream: boolean, responseStream: boolean): grpc.MethodDefinition<EchoRequest, EchoReply> {
  return {
    path: `/${ECHO_SERVICE}/${name}`,
    requestStream,
    responseStream,
    requestSerialize: json.serialize,
    requestDeserialize: json.deserialize as (b: Buffer) => EchoRequest,
    responseSerialize: json.serialize,
    responseDeserialize: json.deserialize as (b: Buffer) => EchoReply,
    originalName: name,
  };
}

/** The service definition: Say (unary), Count (server streaming), Collect (client streaming), Chat (bidi). */
export const echoService = {
  Say: method('Say', false, false),
  Count: method('Count', false, true),
  Collect: method('Collect', true, false),
  Chat: method('Chat', true, true),
} satisfies grpc.ServiceDefinition;

/** The generated-style client class of the echo service. */
export const EchoClient = grpc.makeGenericClientConstructor(echoService, ECHO_SERVICE);

/** An instance of EchoClient with typed unary helpers. */
export type EchoClientInstance = InstanceType<typeof EchoClient>;

function attemptOf(md: grpc.Metadata): number {
  const prev = Number(md.get('grpc-previous-rpc-attempts')[0] ?? 0);
  return (Number.isFinite(prev) ? prev : 0) + 1;
}

function headersOf(md: grpc.Metadata): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(md.getMap())) if (k.startsWith('x-') && typeof v === 'string') out[k] = v;
  return out;
}

function deadlineMsOf(call: SurfaceCall): number | undefined {
  const d = call.getDeadline();
  const at = d instanceof Date ? d.getTime() : d;
  return Number.isFinite(at) ? Math.max(0, at - Date.now()) : undefined;
}

function failure(req: EchoRequest, attempt: number, stats: EchoStats): grpc.ServiceError | undefined {
  if (stats.failCode !== undefined) {
    return Object.assign(new Error('echo: this instance is failing'), { code: stats.failCode, details: 'echo: this instance is failing', metadata: new grpc.Metadata() });
  }
  if (req.fail === undefined || attempt >= (req.fail.untilAttempt ?? Infinity)) return undefined;
  return Object.assign(new Error(req.fail.details ?? `echo: scripted failure on attempt ${attempt}`), {
    code: req.fail.code,
    details: req.fail.details ?? `echo: scripted failure on attempt ${attempt}`,
    metadata: new grpc.Metadata(),
  });
}

function wait(ms: number, call: SurfaceCall): Promise<void> {
  if (ms <= 0) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    call.once('cancelled', done);
    function done(): void {
      clearTimeout(timer);
      call.off('cancelled', done);
      resolve();
    }
  });
}

/** Counters a test reads, and a behaviour it may change at any time. */
export interface EchoStats {
  /** Calls received, by method name. */
  readonly calls: Record<string, number>;
  /** When set, every call fails with this gRPC status code (a broken instance). */
  failCode?: number;
}

/** The handlers of an echo server named `name`; `stats` counts what it received. */
export function echoHandlers(name: string, stats: EchoStats = { calls: {} }): grpc.UntypedServiceImplementation {
  const count = (m: string): void => {
    stats.calls[m] = (stats.calls[m] ?? 0) + 1;
  };
  const reply = (call: SurfaceCall, text: string, attempt: number, index?: number): EchoReply => {
    const deadlineMs = deadlineMsOf(call);
    return {
      server: name,
      text,
      attempt,
      headers: headersOf(call.metadata),
      ...(index !== undefined ? { index } : {}),
      ...(deadlineMs !== undefined ? { deadlineMs } : {}),
    };
  };
  return {
    Say: async (call: grpc.ServerUnaryCall<EchoRequest, EchoReply>, callback: grpc.sendUnaryData<EchoReply>) => {
      count('Say');
      const attempt = attemptOf(call.metadata);
      const deadlineMs = deadlineMsOf(call);
      await wait(call.request.delayMs ?? 0, call);
      if (call.cancelled) return;
      const err = failure(call.request, attempt, stats);
      if (err) return callback(err);
      callback(null, { ...reply(call, call.request.text ?? '', attempt), ...(deadlineMs !== undefined ? { deadlineMs } : {}) });
    },
    Count: async (call: grpc.ServerWritableStream<EchoRequest, EchoReply>) => {
      count('Count');
      const attempt = attemptOf(call.metadata);
      const err = failure(call.request, attempt, stats);
      if (err) return call.destroy(err);
      const n = call.request.count ?? 3;
      for (let i = 0; i < n && !call.cancelled; i++) {
        if (i > 0) await wait(call.request.intervalMs ?? 0, call);
        if (call.cancelled) return;
        call.write(reply(call, call.request.text ?? '', attempt, i));
      }
      call.end();
    },
    Collect: (call: grpc.ServerReadableStream<EchoRequest, EchoReply>, callback: grpc.sendUnaryData<EchoReply>) => {
      count('Collect');
      const attempt = attemptOf(call.metadata);
      const texts: string[] = [];
      call.on('data', (req: EchoRequest) => texts.push(req.text ?? ''));
      call.on('end', () => callback(null, reply(call, texts.join(' '), attempt, texts.length)));
    },
    Chat: (call: grpc.ServerDuplexStream<EchoRequest, EchoReply>) => {
      count('Chat');
      const attempt = attemptOf(call.metadata);
      let i = 0;
      call.on('data', (req: EchoRequest) => call.write(reply(call, req.text ?? '', attempt, i++)));
      call.on('end', () => call.end());
    },
  };
}

/** Adds the echo service named `name` to `server`; returns its counters (and its `failCode` switch). */
export function addEchoService(server: grpc.Server, name: string, failCode?: number): EchoStats {
  const stats: EchoStats = failCode === undefined ? { calls: {} } : { calls: {}, failCode };
  server.addService(echoService, echoHandlers(name, stats));
  return stats;
}

/** Calls Say and resolves with the reply, or rejects with the ServiceError. */
export function say(client: grpc.Client, req: EchoRequest, options: { metadata?: grpc.Metadata; deadlineMs?: number } = {}): Promise<EchoReply> {
  return new Promise((resolve, reject) => {
    const callOptions: grpc.CallOptions = options.deadlineMs !== undefined ? { deadline: Date.now() + options.deadlineMs } : {};
    client.makeUnaryRequest(
      echoService.Say.path,
      echoService.Say.requestSerialize,
      echoService.Say.responseDeserialize,
      req,
      options.metadata ?? new grpc.Metadata(),
      callOptions,
      (err, value) => (err ? reject(err) : resolve(value!)),
    );
  });
}
