// What every controller's reconciler is given besides its caches: the fenced client all its writes go
// through, the Event recorder, the operator's configuration and, for tests, the clock.
import type { OperatorConfig } from '../config.js';
import type { EventRecorder } from '../kube/events.js';
import type { KubeClient } from '../kube/kube-client.js';

export interface ReconcilerDeps {
  client: KubeClient;
  events: EventRecorder;
  config: OperatorConfig;
  now?: () => Date;
}
