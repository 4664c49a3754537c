/**
 * `npm run chaos -- <scenario> [flags]`: real node processes under app-like traffic
 * while a nemesis injects faults, then a full sync of every device and the history
 * check. Exit 0: clean; 1: a bad count above 0; 2: usage; 3: the run could not
 * complete (or verify). See ops/chaos/README.md.
 *
 *   npm run chaos -- list
 *   npm run chaos -- owner-freeze --cycles 20
 *   npm run chaos -- kill --cycles 5 --rate 100 --no-doc
 */
import { checkKnown, num, parseFlags, seconds, str, bool, type Flags } from '../lib/args.js';
import { installExitCleanup, killDescendantsSync } from './cleanup.js';
import { insideNetns, rerunInNetns } from './netns.js';
import { DEFAULT_PARAMS, DEFAULT_WORKLOAD, runChaos } from './run.js';
import { SCENARIOS, scenario } from './scenarios.js';

const FLAGS = [
  'cycles', 'seconds', 'rate', 'lease-ttl', 'freeze-factor', 'partition-factor', 'stop-min', 'stop-max', 'down-seconds', 'gap',
  'nodes', 'cassandra', 'directs', 'groups', 'group-size', 'impatient', 'max-inflight', 'drain-seconds', 'final-seconds', 'out', 'no-doc', 'keep-history',
];

function usage(): string {
  return [
    'usage: npm run chaos -- <scenario> [flags]',
    '       npm run chaos -- record <result dir>...   (put earlier runs into docs/CHAOS.md)',
    '',
    ...SCENARIOS.map((s) => `  ${s.name.padEnd(18)} ${s.about} (default ${s.defaultCycles} cycles)`),
    '',
    'flags:',
    '  --cycles N            fault cycles (default per scenario)',
    '  --seconds S           time budget for the cycles (default 900); no new cycle starts after it',
    `  --rate R              new messages per second, all devices together (default ${DEFAULT_WORKLOAD.rate})`,
    `  --lease-ttl S         cell: lease TTL (default ${DEFAULT_PARAMS.leaseTtlSec})`,
    `  --freeze-factor F     owner-freeze: freeze = F x TTL (default ${DEFAULT_PARAMS.freezeFactor})`,
    `  --partition-factor F  partition: cut off for F x TTL (default ${DEFAULT_PARAMS.partitionFactor})`,
    `  --stop-min/--stop-max S  stop: SIGSTOP length range (default ${DEFAULT_PARAMS.stopMs[0] / 1000}..${DEFAULT_PARAMS.stopMs[1] / 1000})`,
    `  --down-seconds S      etcd-restart / cassandra-restart: time down (default ${DEFAULT_PARAMS.downMs / 1000})`,
    `  --gap S               traffic between faults (default ${DEFAULT_PARAMS.gapMs / 1000})`,
    '  --nodes N             cell size (default 3)',
    '  --cassandra host:port shared Cassandra for cell scenarios (default $SB_CASSANDRA_CONTACT, else a private one)',
    `  --directs N / --groups N / --group-size N   conversations per node (default ${DEFAULT_WORKLOAD.directs} / ${DEFAULT_WORKLOAD.groups} / ${DEFAULT_WORKLOAD.groupSize})`,
    `  --impatient F         share of devices that give up on a silent socket after ${DEFAULT_WORKLOAD.impatientTimeoutMs / 1000} s (default ${DEFAULT_WORKLOAD.impatientFraction})`,
    `  --max-inflight N      sends on the wire per device before its outbox waits (default ${DEFAULT_WORKLOAD.maxInflight})`,
    '  --drain-seconds S / --final-seconds S   quiet-period bounds (default 60 / 60)',
    '  --out DIR             results base folder (default results/)',
    '  --no-doc              do not put the row into docs/CHAOS.md',
    '  --keep-history        keep history.json.gz even when the run is clean',
  ].join('\n');
}

function options(name: string, flags: Flags, argv: string[]) {
  checkKnown(flags, FLAGS);
  const params = {
    leaseTtlSec: num(flags, 'lease-ttl', DEFAULT_PARAMS.leaseTtlSec),
    freezeFactor: num(flags, 'freeze-factor', DEFAULT_PARAMS.freezeFactor),
    partitionFactor: num(flags, 'partition-factor', DEFAULT_PARAMS.partitionFactor),
    stopMs: [seconds(flags, 'stop-min', DEFAULT_PARAMS.stopMs[0] / 1000) * 1000, seconds(flags, 'stop-max', DEFAULT_PARAMS.stopMs[1] / 1000) * 1000] as [number, number],
    downMs: seconds(flags, 'down-seconds', DEFAULT_PARAMS.downMs / 1000) * 1000,
    gapMs: seconds(flags, 'gap', DEFAULT_PARAMS.gapMs / 1000) * 1000,
  };
  return {
    scenario: name,
    cycles: flags.has('cycles') ? num(flags, 'cycles', 0) : undefined,
    seconds: seconds(flags, 'seconds', 900),
    params,
    workload: {
      rate: num(flags, 'rate', DEFAULT_WORKLOAD.rate),
      directs: num(flags, 'directs', DEFAULT_WORKLOAD.directs),
      groups: num(flags, 'groups', DEFAULT_WORKLOAD.groups),
      groupSize: num(flags, 'group-size', DEFAULT_WORKLOAD.groupSize),
      impatientFraction: num(flags, 'impatient', DEFAULT_WORKLOAD.impatientFraction),
      maxInflight: num(flags, 'max-inflight', DEFAULT_WORKLOAD.maxInflight),
    },
    nodes: num(flags, 'nodes', 3),
    cassandra: str(flags, 'cassandra', process.env.SB_CASSANDRA_CONTACT ?? '') || null,
    drainSeconds: seconds(flags, 'drain-seconds', 60),
    finalSyncSeconds: seconds(flags, 'final-seconds', 60),
    outBase: flags.has('out') ? str(flags, 'out', '') : undefined,
    doc: !bool(flags, 'no-doc'),
    keepHistory: bool(flags, 'keep-history'),
    command: `npm run chaos -- ${argv.join(' ')}`,
  };
}

const argv = process.argv.slice(2);
const [name, ...rest] = argv;
if (!name || name === '--help' || name === 'list') {
  console.log(usage());
  process.exit(0);
}
if (name === 'record') {
  // Put earlier runs (made with --no-doc, or from another checkout) into docs/CHAOS.md.
  const { recordResultInDoc } = await import('./report.js');
  for (const dir of rest) console.log(recordResultInDoc(dir).join(' | '));
  process.exit(0);
}
const sc = scenario(name);
if (!sc) {
  console.error(`unknown scenario ${JSON.stringify(name)}\n\n${usage()}`);
  process.exit(2);
}
let opts: ReturnType<typeof options>;
try {
  opts = options(name, parseFlags(rest), argv);
} catch (e) {
  console.error(`${(e as Error).message}\n\n${usage()}`);
  process.exit(2);
}

if (sc.netns && !insideNetns()) {
  // The whole run (etcd, nodes, Cassandra, clients) goes into a private network namespace.
  if (process.getuid?.() !== 0) {
    console.error('the partition scenario needs root (network namespace, iptables)');
    process.exit(2);
  }
  const { execFileSync } = await import('node:child_process');
  try {
    execFileSync('bash', ['ops/etcd/ensure-deps.sh'], { stdio: 'inherit' });
  } catch {
    console.error('iptables is missing and could not be installed (ops/etcd/ensure-deps.sh)');
    process.exit(3);
  }
  process.exit(await rerunInNetns(argv, (l) => console.log(`[netns] ${l}`)));
}

installExitCleanup();
const ac = new AbortController();
let interrupted = 0;
const onSignal = (sig: NodeJS.Signals) => (): void => {
  interrupted++;
  if (interrupted === 1) {
    console.error(`\n${sig}: stopping (cleaning up everything this run started; again to kill at once)`);
    ac.abort(new Error(`interrupted by ${sig}`));
    setTimeout(() => {
      console.error('cleanup is taking too long: killing what is left');
      killDescendantsSync();
      process.exit(130);
    }, 90_000).unref();
  } else {
    killDescendantsSync();
    process.exit(130);
  }
};
process.on('SIGINT', onSignal('SIGINT'));
process.on('SIGTERM', onSignal('SIGTERM'));

const res = await runChaos({ ...opts, signal: ac.signal });
process.exit(interrupted ? 130 : res.exitCode);
