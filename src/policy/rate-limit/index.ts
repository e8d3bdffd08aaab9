// Local rate limiting: Envoy-style token buckets, one per limit per instance.
export { TokenBucket, sameBucketSpec } from './token-bucket.js';
