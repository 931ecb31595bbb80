// How `chrysalis demo` ends: the exit code and the summary's `converged` follow what the user asked for.
import test from 'ava';
import { demoConverged } from '../../cli/src/commands/demo.js';

test('a Ctrl-C after the interactive demo said "converged" is a clean stop, not a failure', (t) => {
  // paid trails metered while traffic flows, so the state at the stop is not fully settled.
  t.true(demoConverged({ untilReady: false, failed: false, convergedAtEnd: false, announcedConverged: true }));
});

test('a Ctrl-C before the interactive demo converged reports not converged', (t) => {
  t.false(demoConverged({ untilReady: false, failed: false, convergedAtEnd: false, announcedConverged: false }));
});

test('with --until-ready only paid == committed == metered at the end counts as converged', (t) => {
  t.true(demoConverged({ untilReady: true, failed: false, convergedAtEnd: true, announcedConverged: false }));
  t.false(demoConverged({ untilReady: true, failed: false, convergedAtEnd: false, announcedConverged: true }));
});

test('a demo that failed after converging does not exit as converged', (t) => {
  t.false(demoConverged({ untilReady: false, failed: true, convergedAtEnd: false, announcedConverged: true }));
  t.false(demoConverged({ untilReady: true, failed: true, convergedAtEnd: true, announcedConverged: false }));
});
