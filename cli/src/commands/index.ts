// Every top-level command, registered in the order `--help` lists them.
import type { Command } from 'commander';
import { registerAttestCommand } from './attest.js';
import { registerDemoCommand } from './demo.js';
import { registerGlobalOptions } from '../kube.js';
import { registerStatusCommand } from './status.js';
import { registerNodesCommand } from './nodes.js';
import { registerReattestCommand } from './reattest.js';
import { registerPoolsCommand } from './pools.js';
import { registerDescribeCommand } from './describe.js';
import { registerPlanCommand } from './plan.js';
import { registerCompletionCommand } from './completion.js';
import { registerSettlementCommand } from './settlement.js';
import { registerUsageCommand } from './usage.js';
import { registerCollateralCommand } from './collateral.js';
import { registerChatCommand } from './chat.js';

export function registerCommands(program: Command): void {
  void program;
  registerGlobalOptions(program);
  registerStatusCommand(program);
  registerNodesCommand(program);
  registerReattestCommand(program);
  registerPoolsCommand(program);
  registerDescribeCommand(program);
  registerPlanCommand(program);
  registerCompletionCommand(program);
  registerAttestCommand(program);
  registerDemoCommand(program);
  registerSettlementCommand(program);
  registerUsageCommand(program);
  registerCollateralCommand(program);
  registerChatCommand(program);
}
