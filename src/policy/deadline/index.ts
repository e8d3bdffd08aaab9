// Deadline propagation: the header, the server-side Deadline and the async context that carries it to outgoing calls.
export { TIMEOUT_HEADER, currentDeadline, deadlineOf, parseTimeoutHeader, runWithDeadline, setRequestDeadline, startDeadline, type Deadline } from './deadline.js';
