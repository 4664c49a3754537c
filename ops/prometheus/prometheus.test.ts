/**
 * The committed Prometheus config, rules and alerts and the Grafana dashboard, for
 * real: promtool checks the files and runs the alert unit tests; then a real
 * Prometheus (Debian's `prometheus`, on loopback, temp dir, free port, 1s scrapes)
 * scrapes a real node (2 socket shards, one of which crashes and restarts once) while
 * a few clients chat, pushes go to offline devices through a fake webhook receiver
 * (one answered 410, one always 503) and a client uploads, re-uploads (dedup),
 * downloads and has uploads refused (size, quota) while media GC runs every second;
 * every recording rule and every dashboard query must return at least one finite
 * sample over Prometheus's HTTP API.
 *
 * Needs `prometheus` and `promtool` on PATH: `bash ops/etcd/ensure-deps.sh` installs them
 * (.ci/run does). Nothing is skipped when they are missing: the test fails and says so.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort } from '../etcd/etcd.js';
import { TestNode, openDirect, show, sleep, syncAll } from '../../node/e2e/harness.js';
import { FakeWebhook } from '../../node/push/fakes/webhook_fake.js';
import { webhookSecret } from '../../node/push/fakes/keys.js';
import { pngBytes, tusPatch, tusUpload } from '../../node/media/media_test_kit.js';
import type { TestClient } from '../../protocol/client.js';
import type { ServerFrame } from '../../protocol/gen/client_pb.js';

const HERE = path.dirname(new URL(import.meta.url).pathname);
const GRAFANA = path.join(HERE, '..', 'grafana', 'switchboard.json');
const RULE_FILES = ['switchboard.rules.yml', 'switchboard.alerts.yml'];
const CRASH_BODY = 'CRASH-FOR-METRICS';
const MiB = 1024 * 1024;
/** Short push timings so pushes, retries and drops happen within seconds. */
const PUSH = { ackWaitMs: 300, collapseWindowMs: 500, retryBaseMs: 100, retryMaxMs: 400, maxAttempts: 4, rescanMs: 1_000 };
/** GC every second with a 3s grace (an upload nobody sends is collected seconds later); an 8 MiB daily quota. */
const MEDIA = { gcIntervalMs: 1_000, gcGraceMs: 3_000, slotTtlMs: 5_000, quotaBytesPerDay: 8 * MiB };
const FAST = { limits: { sendRatePerSec: 10_000, sendBurst: 10_000, userSendRatePerSec: 10_000, userSendBurst: 10_000, conversationSendRatePerSec: 10_000, conversationSendBurst: 10_000, conversationSenderRatePerSec: 10_000, conversationSenderBurst: 10_000 } };

function requireBinaries(): void {
  for (const bin of ['prometheus', 'promtool']) {
    const r = spawnSync('sh', ['-c', `command -v ${bin}`]);
    if (r.status !== 0) throw new Error(`${bin} is not installed: run \`bash ops/etcd/ensure-deps.sh\` (it installs Debian's prometheus package, which ships promtool)`);
  }
}

function promtool(args: string[]): { code: number | null; out: string } {
  const r = spawnSync('promtool', args, { cwd: HERE, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

interface Dashboard {
  panels: Array<{ id: number; type: string; title: string; targets?: Array<{ refId: string; expr: string }> }>;
  templating: { list: Array<{ name: string }> };
}

function dashboard(): Dashboard {
  return JSON.parse(readFileSync(GRAFANA, 'utf8')) as Dashboard;
}

/** A dashboard expression as Grafana would send it with "All" nodes selected. */
function grafanaToPromQL(expr: string): string {
  return expr.replaceAll('$__rate_interval', '30s').replaceAll('$instance', '.*');
}

/** The committed prometheus.yml with the test node as the only target and 1s intervals. */
function testConfig(committed: string, target: string): string {
  const subs: Array<[RegExp, string]> = [
    [/scrape_interval: 15s/, 'scrape_interval: 1s'],
    [/scrape_timeout: 10s/, 'scrape_timeout: 1s'],
    [/evaluation_interval: 15s/, 'evaluation_interval: 1s'],
    [/- targets: \['alertmanager[^\]]*\]/, '- targets: []'],
    [/- targets: \['node-1[^\]]*\]/, `- targets: ['${target}']`],
  ];
  let out = committed;
  for (const [re, to] of subs) {
    assert.match(out, re, `prometheus.yml no longer has ${re}: update the test's rewrite`);
    out = out.replace(re, to);
  }
  return out;
}

/**
 * The parts of Grafana's dashboard model it needs to load and draw the dashboard
 * (no Grafana in CI, no JSON-schema package in the project): a structural check.
 */
function checkDashboardModel(d: Record<string, unknown>): string[] {
  const bad: string[] = [];
  const isInt = (v: unknown, min = 0, max = Infinity) => Number.isInteger(v) && (v as number) >= min && (v as number) <= max;
  if (typeof d.uid !== 'string' || !/^[A-Za-z0-9_-]{1,40}$/.test(d.uid)) bad.push('uid: 1-40 of [A-Za-z0-9_-]');
  if (typeof d.title !== 'string' || !d.title) bad.push('title: a non-empty string');
  if (!isInt(d.schemaVersion, 30)) bad.push('schemaVersion: an integer >= 30');
  const time = d.time as { from?: unknown; to?: unknown } | undefined;
  if (typeof time?.from !== 'string' || typeof time?.to !== 'string') bad.push('time: {from, to}');
  const vars = (d.templating as { list?: unknown } | undefined)?.list;
  if (!Array.isArray(vars)) bad.push('templating.list: an array');
  else for (const v of vars as Array<{ name?: unknown; type?: unknown }>) if (typeof v.name !== 'string' || !['datasource', 'query', 'custom', 'constant', 'interval', 'textbox'].includes(v.type as string)) bad.push(`templating variable ${String(v.name)}: name and a known type`);
  if (!Array.isArray(d.panels) || d.panels.length === 0) return [...bad, 'panels: a non-empty array'];
  for (const p of d.panels as Array<Record<string, unknown>>) {
    const at = `panel ${String(p.id)} "${String(p.title)}"`;
    if (!isInt(p.id, 1)) bad.push(`${at}: id a positive integer`);
    if (typeof p.title !== 'string' || !p.title) bad.push(`${at}: title`);
    if (!['row', 'timeseries', 'stat', 'gauge', 'table', 'text', 'bargauge'].includes(p.type as string)) bad.push(`${at}: a known panel type`);
    const g = p.gridPos as Record<string, unknown> | undefined;
    if (!g || !isInt(g.h, 1) || !isInt(g.w, 1, 24) || !isInt(g.x, 0, 23) || !isInt(g.y, 0) || (g.x as number) + (g.w as number) > 24) bad.push(`${at}: gridPos {h, w, x, y} inside 24 columns`);
    if (p.type === 'row') continue;
    const ds = p.datasource as { type?: unknown; uid?: unknown } | undefined;
    if (ds?.type !== 'prometheus' || typeof ds.uid !== 'string') bad.push(`${at}: a prometheus datasource`);
    const targets = p.targets as Array<{ refId?: unknown; expr?: unknown }> | undefined;
    if (!Array.isArray(targets) || targets.length === 0) bad.push(`${at}: targets`);
    else {
      for (const t of targets) if (typeof t.refId !== 'string' || !t.refId || typeof t.expr !== 'string' || !t.expr) bad.push(`${at}: every target has refId and expr`);
      if (new Set(targets.map((t) => t.refId)).size !== targets.length) bad.push(`${at}: refIds unique`);
    }
  }
  const ids = (d.panels as Array<{ id: unknown }>).map((p) => p.id);
  if (new Set(ids).size !== ids.length) bad.push('panel ids unique');
  return bad;
}

describe('Prometheus rules and config (promtool)', () => {
  before(requireBinaries);

  it('promtool check config passes on the committed prometheus.yml (and the rule files it names)', () => {
    const r = promtool(['check', 'config', 'prometheus.yml']);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /SUCCESS: 2 rule files found/);
  });

  it('promtool check rules passes on the recording and alert rules', () => {
    const r = promtool(['check', 'rules', ...RULE_FILES]);
    assert.equal(r.code, 0, r.out);
  });

  it('promtool test rules: every paging alert fires on its series and stays quiet on healthy ones', () => {
    const r = promtool(['test', 'rules', 'switchboard.alerts.test.yml']);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /SUCCESS/);
    const alerts = [...readFileSync(path.join(HERE, 'switchboard.alerts.yml'), 'utf8').matchAll(/- alert: (\w+)/g)].map((m) => m[1]);
    const tested = readFileSync(path.join(HERE, 'switchboard.alerts.test.yml'), 'utf8');
    for (const a of alerts) assert.ok(new RegExp(`alertname: ${a}\\n\\s+exp_alerts:\\n\\s+- exp_labels`).test(tested), `alert ${a} has a unit test where it fires`);
  });
});

describe('Grafana dashboard', () => {
  it('is well-formed Grafana dashboard JSON: model fields, unique panel ids and refIds, panels inside the 24-column grid, only defined variables', () => {
    const d = dashboard();
    assert.deepEqual(checkDashboardModel(d as unknown as Record<string, unknown>), []);
    const vars = new Set(['__rate_interval', '__all', ...d.templating.list.map((v) => v.name)]);
    for (const [, v] of JSON.stringify(d).matchAll(/\$\{?(\w+)/g)) assert.ok(vars.has(v), `variable $${v} is defined`);
  });
});

describe('Prometheus against a real node under traffic', () => {
  let node: TestNode;
  let webhook: FakeWebhook;
  let prom: ChildProcess | null = null;
  let promLog = '';
  let dir = '';
  const clients: TestClient[] = [];
  let stopTraffic = false;
  let traffic: Promise<unknown> = Promise.resolve();
  /** The first error of a traffic loop: fails the wait for data at once instead of timing out. */
  let loopError: Error | null = null;

  before(async () => {
    requireBinaries();
    // The webhook provider against a fake app backend on loopback (node/push/fakes/).
    const secret = webhookSecret();
    webhook = await FakeWebhook.start({ secret });
    const push = { ...PUSH, webhook: { enabled: true, secret, allowHttp: true, allowedOrigins: [new URL(webhook.url).origin] } };
    node = await TestNode.start({ config: { shards: { count: 2 }, ...FAST, push, media: MEDIA }, env: { SWITCHBOARD_TEST_FAULT: `crash_shard_on_body:${CRASH_BODY}` } });
    dir = mkdtempSync(path.join(tmpdir(), 'sb-prometheus-'));
  });

  after(async () => {
    stopTraffic = true;
    await traffic.catch(() => undefined);
    for (const c of clients) c.close();
    if (prom && prom.exitCode === null && prom.signalCode === null) {
      const p = prom;
      const exited = new Promise((r) => p.once('exit', r));
      p.kill('SIGTERM');
      const t = setTimeout(() => p.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(t);
    }
    await node?.stop();
    node?.cleanup();
    await webhook?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function metricsText(): Promise<string> {
    return (await fetch(node.httpUrl + '/metrics')).text();
  }

  async function until(what: string, ok: () => Promise<boolean>, timeoutMs: number): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (!(await ok())) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}${promLog ? `\n--- prometheus log tail ---\n${promLog.slice(-3000)}` : ''}`);
      await sleep(250);
    }
  }

  type Sample = { metric: Record<string, string>; value: [number, string] };
  async function query(q: string): Promise<Sample[]> {
    const base = `http://${promAddr}`;
    const r = await fetch(`${base}/api/v1/query?query=${encodeURIComponent(q)}`);
    const body = (await r.json()) as { status: string; error?: string; data?: { resultType: string; result: Sample[] } };
    if (body.status !== 'success') throw new Error(`query failed: ${q}: ${body.error}`);
    return body.data!.result;
  }
  let promAddr = '';

  it('every recording rule and every dashboard query returns data; no rule errors; no alert fires', { timeout: 240_000 }, async () => {
    // 1. One supervised restart, so the restart series exist: a shard crashes on a
    //    marked send and the host restarts it.
    const crasher = await node.connect('crasher', 'phone');
    const crashConv = await openDirect(crasher, 'crash-peer');
    crasher.send({ kind: { case: 'send', value: { conversation: crashConv, clientMsgId: 'boom', body: CRASH_BODY } } });
    await crasher.waitClose(15_000);
    await until('the crashed shard to restart', async () => {
      const t = await metricsText();
      return /^switchboard_child_restarts_total\{[^}]*\} 1$/m.test(t) && /^switchboard_shard_links_up 2$/m.test(t);
    }, 30_000);

    // 2. A little traffic: 4 pairs, each sender sends every 50 ms to an online
    //    recipient that acks what it gets.
    const pairs: Array<{ a: TestClient; b: TestClient; conv: string }> = [];
    for (let i = 0; i < 4; i++) {
      const a = await node.connect(`pa${i}`, 'phone');
      const b = await node.connect(`pb${i}`, 'phone');
      const conv = await openDirect(a, `pb${i}`);
      await syncAll(b); // a synced device gets live pushes (send->deliver)
      clients.push(a, b);
      pairs.push({ a, b, conv });
    }
    let sent = 0;
    const loops: Array<Promise<void>> = pairs.map(async ({ a, b, conv }, i) => {
      for (let n = 0; !stopTraffic; n++) {
        const f = await a.call({ kind: { case: 'send', value: { conversation: conv, clientMsgId: `p${i}-${n}`, body: `hello ${n}` } } });
        if (f.kind.case === 'sendAck') {
          sent++;
          b.send({ kind: { case: 'ack', value: { conversation: conv, seq: f.kind.value.seq } } });
        }
        await sleep(50);
      }
    });

    // 3. Pushes through the fake webhook receiver. pb0 is online and acks within
    //    push.ackWaitMs: its pushes are skipped (acked). off0 is offline: pushed, its
    //    first push answered 500 (retried, then sent). gone0's one push is answered 410
    //    (dropped, unregistered: the registration is removed). flaky0's receiver always
    //    answers 503: retried until push.maxAttempts, then dropped (attempts).
    const hook = (user: string): string => `${webhook.url}/hooks/${user}`;
    for (const user of ['pb0', 'off0', 'gone0', 'flaky0']) {
      const r = await node.api('PUT', `/v1/users/${user}/devices/phone/push`, { platform: 'webhook', token: hook(user) });
      assert.equal(r.status, 200, show(r.body));
    }
    webhook.script('/hooks/off0', { status: 500, times: 1 });
    webhook.script('/hooks/gone0', { status: 410, times: 1 });
    webhook.script('/hooks/flaky0', { status: 503 });
    const pusher = await node.connect('pusher', 'phone');
    clients.push(pusher);
    const [toOff, toGone, toFlaky] = [await openDirect(pusher, 'off0'), await openDirect(pusher, 'gone0'), await openDirect(pusher, 'flaky0')];
    const sendOk = async (c: TestClient, conversation: string, body: string): Promise<void> => {
      const f = await c.call({ kind: { case: 'send', value: { conversation, clientMsgId: `${body}-${Math.random()}`, body } } });
      assert.equal(f.kind.case, 'sendAck', show(f));
    };
    await sendOk(pusher, toGone, 'to a dead token');
    loops.push(
      (async () => {
        for (let n = 0; !stopTraffic; n++) {
          await sendOk(pusher, toOff, `wake ${n}`);
          if (n % 3 === 0) await sendOk(pusher, toFlaky, `flaky ${n}`);
          await sleep(300);
        }
      })(),
    );

    // 4. Media, about once a second: upload a file twice (the second is a dedup hit),
    //    download it, have an upload refused for size (more bytes than declared), and a
    //    slot refused by the daily quota (hog takes 6 MiB of the 8, then asks for 6 more;
    //    its unused slot expires and GC gives the quota back). Nothing is sent with the
    //    media, so GC collects it after media.gcGraceMs.
    const uploader = await node.connect('uploader', 'phone');
    const hog = await node.connect('hog', 'phone');
    clients.push(uploader, hog);
    const [upConv, hogConv] = [await openDirect(uploader, 'viewer'), await openDirect(hog, 'viewer')];
    const slot = async (c: TestClient, conversation: string, size: number): Promise<ServerFrame> =>
      c.call({ kind: { case: 'mediaSlot', value: { conversation, size: BigInt(size), mime: 'image/png', sha256: '' } } });
    const slotOk = async (c: TestClient, conversation: string, size: number): Promise<{ mediaId: string; uploadUrl: string }> => {
      const f = await slot(c, conversation, size);
      assert.equal(f.kind.case, 'mediaSlot', show(f));
      return f.kind.value as { mediaId: string; uploadUrl: string };
    };
    let downloaded = 0;
    loops.push(
      (async () => {
        for (let n = 0; !stopTraffic; n++) {
          const bytes = pngBytes(20_000 + n);
          const first = await slotOk(uploader, upConv, bytes.length);
          assert.equal((await tusUpload(first.uploadUrl, bytes)).status, 204, 'upload stored');
          const again = await slotOk(uploader, upConv, bytes.length);
          assert.equal((await tusUpload(again.uploadUrl, bytes)).status, 204, 'the same bytes again: stored once, linked');
          const u = await uploader.call({ kind: { case: 'mediaUrl', value: { conversation: upConv, mediaId: first.mediaId } } });
          assert.equal(u.kind.case, 'mediaUrl', show(u));
          const got = Buffer.from(await (await fetch((u.kind.value as { url: string }).url)).arrayBuffer());
          assert.deepEqual(got, bytes, 'the download is the upload');
          downloaded += got.length;
          const small = await slotOk(uploader, upConv, 5_000);
          const over = await tusPatch(small.uploadUrl, 0, pngBytes(5_010));
          assert.equal(over.status, 413, over.body);
          await slot(hog, hogConv, 6 * MiB); // granted when the quota is free, else refused too
          const refused = await slot(hog, hogConv, 6 * MiB);
          assert.ok(refused.kind.case === 'error' && refused.kind.value.code === 'quota_exceeded', show(refused));
          await sleep(1_000);
        }
      })(),
    );
    traffic = Promise.all(
      loops.map((l) =>
        l.catch((e: Error) => {
          loopError ??= e;
          throw e;
        }),
      ),
    );
    traffic.catch(() => undefined);

    // 5. Prometheus with the committed config and rules, scraping the node every 1s.
    const port = await freePort();
    promAddr = `127.0.0.1:${port}`;
    for (const f of RULE_FILES) copyFileSync(path.join(HERE, f), path.join(dir, f));
    const cfgFile = path.join(dir, 'prometheus.yml');
    writeFileSync(cfgFile, testConfig(readFileSync(path.join(HERE, 'prometheus.yml'), 'utf8'), `127.0.0.1:${node.port}`));
    assert.equal(promtool(['check', 'config', cfgFile]).code, 0, 'the rewritten config is valid too');
    prom = spawn('prometheus', [`--config.file=${cfgFile}`, `--storage.tsdb.path=${path.join(dir, 'data')}`, `--web.listen-address=${promAddr}`], { stdio: ['ignore', 'pipe', 'pipe'] });
    prom.stdout!.on('data', (d: Buffer) => (promLog += d.toString()));
    prom.stderr!.on('data', (d: Buffer) => (promLog += d.toString()));
    const promExit = new Promise((_r, reject) => prom!.once('exit', (code) => reject(new Error(`prometheus exited with ${code}:\n${promLog.slice(-3000)}`))));
    promExit.catch(() => undefined);
    await until('prometheus to be ready', async () => (await fetch(`http://${promAddr}/-/ready`).catch(() => null))?.status === 200, 30_000);
    await until('the node target to be up', async () => {
      const t = (await (await fetch(`http://${promAddr}/api/v1/targets`)).json()) as { data: { activeTargets: Array<{ health: string }> } };
      return t.data.activeTargets.length === 1 && t.data.activeTargets[0].health === 'up';
    }, 30_000);

    // 6. Every recording rule (by its recorded name, as Prometheus loaded them) and
    //    every dashboard target returns at least one finite sample.
    const rules = (await (await fetch(`http://${promAddr}/api/v1/rules`)).json()) as {
      data: { groups: Array<{ rules: Array<{ type: string; name: string; query: string; health: string; lastError?: string }> }> };
    };
    const all = rules.data.groups.flatMap((g) => g.rules);
    const recording = all.filter((r) => r.type === 'recording');
    const alerting = all.filter((r) => r.type === 'alerting');
    assert.equal(recording.length, 21, 'all recording rules loaded');
    assert.equal(alerting.length, 14, 'all alert rules loaded');
    const checks: Array<{ what: string; q: string }> = [
      ...recording.map((r) => ({ what: `rule ${r.name}`, q: r.name })),
      ...dashboard().panels.flatMap((p) => (p.targets ?? []).map((t) => ({ what: `panel "${p.title}" ${t.refId}`, q: grafanaToPromQL(t.expr) }))),
    ];
    const results = new Map<string, Sample[]>();
    const finite = (s: Sample[]) => s.filter((x) => Number.isFinite(Number(x.value[1])));
    await until('every query to return a finite sample', async () => {
      if (loopError) throw loopError;
      for (const c of checks) if (!results.has(c.what) || finite(results.get(c.what)!).length === 0) results.set(c.what, await query(c.q));
      return checks.every((c) => finite(results.get(c.what)!).length > 0);
    }, 90_000).catch((e: Error) => {
      const empty = checks.filter((c) => finite(results.get(c.what) ?? []).length === 0).map((c) => `  ${c.what}: ${c.q}`);
      throw new Error(`${e.message.split('\n')[0]}; no data for:\n${empty.join('\n')}`);
    });
    const report = checks.map((c) => {
      const s = finite(results.get(c.what)!);
      return `  ${c.what}: ${s.length} series, max ${Math.max(...s.map((x) => Number(x.value[1]))).toPrecision(3)}`;
    });
    console.log(`${checks.length} queries returned data (${sent} messages sent so far):\n${report.join('\n')}`);

    // The one restart shows up in the restart rule, not as 0.
    const restarts = await query('sum(switchboard:child_restarts:last10m)');
    assert.equal(Number(restarts[0]?.value[1]), 1, 'the shard restart counted once');

    // What the push and media panels show is what happened, as Prometheus sees it.
    const value = async (q: string): Promise<number> => Number((await query(q))[0]?.value[1] ?? NaN);
    const facts: Array<{ what: string; q: string; ok: (v: number) => boolean }> = [
      { what: 'pushes the receiver accepted', q: 'sum(switchboard_push_sent_total{provider="webhook"})', ok: (v) => v >= 2 },
      { what: "off0's first push, answered 500, counted as retried", q: 'sum(switchboard_push_failed_total{provider="webhook", reason="500"})', ok: (v) => v === 1 },
      { what: "flaky0's 503s counted as retried", q: 'sum(switchboard_push_failed_total{provider="webhook", reason="503"})', ok: (v) => v >= 3 },
      { what: "flaky0's pushes dropped after push.maxAttempts", q: 'sum(switchboard_push_dropped_total{provider="webhook", reason="attempts"})', ok: (v) => v >= 1 },
      { what: "gone0's dead token dropped exactly once", q: 'sum(switchboard_push_dropped_total{provider="webhook", reason="unregistered"})', ok: (v) => v === 1 },
      { what: "pb0's pushes skipped: it acked in time", q: 'sum(switchboard_push_skipped_total{reason="acked"})', ok: (v) => v >= 1 },
      { what: 'the failure ratio counts the 5xx and not the dead token', q: 'switchboard:push_failures:ratio_rate5m{provider="webhook"}', ok: (v) => v > 0 && v < 1 },
      { what: 'message -> push latency observed per push sent', q: 'sum(switchboard_push_message_to_push_seconds_count{provider="webhook"})', ok: (v) => v >= 2 },
      { what: 'uploads completed', q: 'sum(switchboard_media_uploads_completed_total)', ok: (v) => v >= 2 },
      { what: 'second uploads of the same bytes were dedup hits', q: 'sum(switchboard_media_dedup_hits_total)', ok: (v) => v >= 1 },
      { what: 'uploads refused for size', q: 'sum(switchboard_media_uploads_refused_total{code="media_size_mismatch"})', ok: (v) => v >= 1 },
      { what: 'slots refused by the quota', q: 'sum(switchboard_media_quota_refusals_total)', ok: (v) => v >= 1 },
      { what: 'download bytes served', q: 'sum(switchboard_media_bytes_out_total)', ok: (v) => v >= 20_000 },
      { what: 'GC passes, all ok', q: 'sum(switchboard:media_gc_passes:last1h{outcome="ok"}) unless sum(switchboard:media_gc_passes:last1h{outcome="error"}) > 0', ok: (v) => v >= 2 },
      { what: 'GC collected the unreferenced uploads', q: 'sum(switchboard_media_gc_deletions_total{kind="media"})', ok: (v) => v >= 1 },
    ];
    const seen = new Map<string, number>();
    await until('the push and media facts', async () => {
      if (loopError) throw loopError;
      for (const f of facts) seen.set(f.what, await value(f.q));
      return facts.every((f) => f.ok(seen.get(f.what)!));
    }, 30_000).catch((e: Error) => {
      throw new Error(`${e.message.split('\n')[0]}:\n${facts.map((f) => `  ${f.ok(seen.get(f.what)!) ? 'ok ' : 'BAD'} ${f.what}: ${f.q} = ${seen.get(f.what)}`).join('\n')}`);
    });
    assert.ok(webhook.delivered.some((r) => r.path === '/hooks/off0'), 'a push reached the offline device');
    assert.equal(webhook.records.filter((r) => r.path === '/hooks/gone0').length, 1, 'the dead token got one request, never a second');
    assert.ok(downloaded >= 20_000);
    // Every rule evaluates without error; nothing pages on a healthy node.
    const rulesAfter = (await (await fetch(`http://${promAddr}/api/v1/rules`)).json()) as typeof rules;
    for (const r of rulesAfter.data.groups.flatMap((g) => g.rules)) assert.equal(r.health, 'ok', `${r.name}: ${r.lastError ?? ''}`);
    const alerts = (await (await fetch(`http://${promAddr}/api/v1/alerts`)).json()) as { data: { alerts: Array<{ labels: Record<string, string>; state: string }> } };
    assert.deepEqual(alerts.data.alerts.filter((a) => a.state === 'firing').map((a) => a.labels.alertname), [], 'no alert fires');
    assert.ok(sent > 0);
  });
});
