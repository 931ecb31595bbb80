// The Chrysalis client library: verify a replica over RA-TLS, then talk to it. Importable by the CLI
// (`chrysalis chat`) and by programs of their own; docs/ARCHITECTURE.md ("RA-TLS") describes the protocol.
export { connectAttested, AttestedConnection, ReplicaRefused, ReplicaUnreachable, type AttestedConnectOptions } from './attested-connection.js';
export { checkCertificate, checkFreshEvidence, refusalCode, type ReplicaCheckOptions, type ReplicaVerdict } from './verify-replica.js';
export { chatCompletion, ChatFailed, CHAT_COMPLETIONS_PATH, type ChatAnswer, type ChatRequest, type ChatUsage } from './chat-completion.js';
