// Wiring of the settlement controller into a Manager (main.ts calls this once):
//   const settlement = settlementController(manager, { chain: { sandboxRoot: config.settlement.sandboxDir } });
// It registers two informers (SettlementAccounts, watched; ProviderNodes, a lister for the metered
// totals — not watched, since every usage fold changes a ProviderNode and a commit happens only once per
// period anyway) and one controller whose reconciles requeue themselves on the commit period.
import type { ProviderNode } from '../../api/providernode.js';
import type { SettlementAccount } from '../../api/settlementaccount.js';
import type { Controller } from '../../kube/controller.js';
import type { Informer } from '../../kube/informer.js';
import type { Manager } from '../../kube/manager.js';
import type { ChainFactoryOptions } from '../../settlement/keys.js';
import { DEFAULT_SANDBOX_ROOT } from '../../settlement/keys.js';
import { ProviderNodes, SettlementAccounts } from '../../kube/chrysalis-resources.js';
import type { KubeObject } from '../../kube/resource.js';
import { SettlementReconciler, type SettlementReconcilerDeps } from './reconciler.js';

export interface SettlementControllerOptions extends Partial<Omit<SettlementReconcilerDeps, 'client' | 'events' | 'listProviderNodes'>> {
  chain?: ChainFactoryOptions;
  /** Concurrent reconciles (accounts are independent; default 2). */
  workers?: number;
}

export interface SettlementControllerParts {
  controller: Controller;
  informers: { accounts: Informer<SettlementAccount & KubeObject>; providerNodes: Informer<ProviderNode & KubeObject> };
  reconciler: SettlementReconciler;
}

export function settlementController(manager: Manager, options: SettlementControllerOptions = {}): SettlementControllerParts {
  const accounts = manager.informer<SettlementAccount & KubeObject>(SettlementAccounts);
  const providerNodes = manager.informer<ProviderNode & KubeObject>(ProviderNodes);
  const { workers, ...rest } = options;
  const reconciler = new SettlementReconciler({
    ...rest,
    chain: options.chain ?? { sandboxRoot: DEFAULT_SANDBOX_ROOT },
    client: manager.client,
    events: manager.events,
    logger: manager.log,
    listProviderNodes: async () => {
      await providerNodes.waitForSync();
      return providerNodes.list();
    },
  });
  const controller = manager.controller({ name: 'settlement', reconciler, workers: workers ?? 2 });
  controller.watch(accounts);
  return { controller, informers: { accounts, providerNodes }, reconciler };
}
