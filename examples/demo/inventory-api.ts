// The demo's gRPC API: proto/inventory.proto loaded with @grpc/proto-loader, and TypeScript types for its messages.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

// Message types as proto-loader hands them over with the options below: lowerCamelCase fields, defaults filled in.
// (`npx proto-loader-gen-types` can generate these; for four small messages, writing them is shorter.)
export interface ReserveRequest {
  orderId: string;
  sku: string;
  quantity: number;
}
export interface ReserveReply {
  reservationId: string;
  servedBy: string;
}
export interface ListStockRequest {
  skus: string[];
}
export interface StockLevel {
  sku: string;
  available: number;
  servedBy: string;
}

/** A client of demo.inventory.v1.Inventory: the methods proto-loader's client class has, with their types. */
export interface InventoryClient extends grpc.Client {
  reserve(request: ReserveRequest, options: grpc.CallOptions, callback: grpc.requestCallback<ReserveReply>): grpc.ClientUnaryCall;
  listStock(request: ListStockRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<StockLevel>;
}

/** What a server of demo.inventory.v1.Inventory implements (method names as in the .proto). */
export interface InventoryHandlers extends grpc.UntypedServiceImplementation {
  Reserve: grpc.handleUnaryCall<ReserveRequest, ReserveReply>;
  ListStock: grpc.handleServerStreamingCall<ListStockRequest, StockLevel>;
}

const PROTO = path.join(path.dirname(fileURLToPath(import.meta.url)), 'proto/inventory.proto');
const definition = protoLoader.loadSync(PROTO, { longs: String, enums: String, defaults: true, oneofs: true });

/** The package definition, for mesh.grpc.server({ reflection }) if you want grpcurl to list the service. */
export const inventoryPackage = definition;

// loadPackageDefinition returns an untyped tree (demo.inventory.v1.Inventory is a GrpcObject lookup), so name the
// one class this demo uses, once, with the type above.
const Inventory = (grpc.loadPackageDefinition(definition) as unknown as {
  demo: { inventory: { v1: { Inventory: grpc.ServiceClientConstructor } } };
}).demo.inventory.v1.Inventory;

/** The generated client class: `mesh.grpc.client(InventoryClient, 'inventory')`. */
export const InventoryClient = Inventory as unknown as new (
  address: string,
  credentials: grpc.ChannelCredentials,
  options?: grpc.ClientOptions,
) => InventoryClient;

/** The service definition, for `server.addService(inventoryService, handlers)`. */
export const inventoryService = Inventory.service;
