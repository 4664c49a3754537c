/** The chaos history check on hand-made histories: each bad count found, and nothing on a clean one. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { badTotal, checkHistory } from './checker.js';
import { emptyHistory, type History, type Via } from './history.js';

/** A history builder: `send` creates and acks, `see` records an observation, `final` a device's full sync. */
function hist() {
  const h: History = emptyHistory();
  const b = {
    h,
    sent(conv: string, user: string, cmid: string, body = `body of ${cmid}`) {
      h.sent.push({ conv, user, device: `${user}/phone`, clientMsgId: cmid, body, at: 0 });
      return b;
    },
    ack(conv: string, user: string, cmid: string, seq: number, messageId = `m-${cmid}`) {
      h.acks.push({ conv, user, device: `${user}/phone`, clientMsgId: cmid, seq, messageId, duplicate: false, at: 0, node: 'n1' });
      return b;
    },
    send(conv: string, user: string, cmid: string, seq: number) {
      return b.sent(conv, user, cmid).ack(conv, user, cmid, seq);
    },
    see(device: string, via: Via, conv: string, seq: number, user: string, cmid: string, o: { messageId?: string; body?: string; system?: boolean } = {}) {
      h.seen.push({ conv, seq, messageId: o.messageId ?? `m-${cmid}`, sender: user, clientMsgId: cmid, body: o.body ?? `body of ${cmid}`, system: o.system ?? false, device, via, at: 0 });
      return b;
    },
    final(device: string, convs: string[], rows: Array<[string, number, string, string]>, complete = true) {
      h.finals.push({ device, user: device.split('/')[0], conversations: convs, complete, error: complete ? undefined : 'timed out' });
      for (const [conv, seq, user, cmid] of rows) b.see(device, 'final', conv, seq, user, cmid);
      return b;
    },
  };
  return b;
}

const clean = () =>
  hist()
    .send('c', 'alice', 'a1', 1)
    .send('c', 'bob', 'b1', 2)
    .send('c', 'alice', 'a2', 3)
    .see('bob/phone', 'live', 'c', 1, 'alice', 'a1')
    .see('bob/phone', 'live', 'c', 3, 'alice', 'a2')
    .see('alice/laptop', 'sync', 'c', 2, 'bob', 'b1');
const allRows: Array<[string, number, string, string]> = [
  ['c', 1, 'alice', 'a1'],
  ['c', 2, 'bob', 'b1'],
  ['c', 3, 'alice', 'a2'],
];

describe('chaos checker', () => {
  it('a clean history has no bad count', () => {
    const r = checkHistory(clean().final('alice/phone', ['c'], allRows).final('bob/phone', ['c'], allRows).h);
    assert.deepEqual(
      { acked: r.acked, sent: r.sent, stored: r.storedMessages, bad: badTotal(r), unacked: r.unackedStored, conversations: r.conversations },
      { acked: 3, sent: 3, stored: 3, bad: 0, unacked: 0, conversations: 1 },
    );
  });

  it('a forked seq: two messages acked at one seq, one of them lost', () => {
    const b = clean().send('c', 'carol', 'c1', 3); // seq 3 also acked to carol's c1
    const r = checkHistory(b.final('alice/phone', ['c'], allRows).h);
    assert.equal(r.seqAckedTwice, 1);
    assert.equal(r.lost, 1, 'carol/c1 is not stored at seq 3');
    assert.match(r.examples.lost![0], /carol\/c1 acked at seq 3/);
  });

  it('a message acked at two seqs is ackMoved, and lost where it is not stored', () => {
    const b = clean().ack('c', 'alice', 'a2', 4, 'm-a2-again');
    const r = checkHistory(b.final('bob/phone', ['c'], allRows).h);
    assert.equal(r.ackMoved, 1);
    assert.equal(r.lost, 1);
  });

  it('a client_msg_id stored twice is a duplicate', () => {
    const rows: Array<[string, number, string, string]> = [...allRows, ['c', 4, 'alice', 'a2']];
    const r = checkHistory(clean().final('bob/phone', ['c'], rows).h);
    assert.equal(r.duplicates, 1);
    assert.equal(r.lost, 0, 'a2 is stored at its acked seq 3');
  });

  it('devices shown different content at one seq disagree (live vs final)', () => {
    const b = clean().see('bob/phone', 'live', 'c', 2, 'mallory', 'x1');
    const r = checkHistory(b.final('bob/phone', ['c'], allRows).h);
    assert.equal(r.disagreements, 1);
    assert.match(r.examples.disagreements![0], /c@2/);
  });

  it('a seq missing from a final view is a gap (and the acked message there is lost)', () => {
    const r = checkHistory(clean().final('bob/phone', ['c'], [allRows[0], allRows[2]]).h);
    assert.equal(r.gaps, 1);
    assert.equal(r.lost, 1);
  });

  it('two final views differing: each view is checked', () => {
    const r = checkHistory(clean().final('alice/phone', ['c'], allRows).final('bob/phone', ['c'], allRows.slice(0, 2)).h);
    assert.equal(r.gaps, 1, 'seq 3 missing from bob');
    assert.equal(r.lost, 1, 'a2 not in bob\'s view');
  });

  it('a different body at the acked seq is lost', () => {
    const b = clean();
    b.h.finals.push({ device: 'bob/phone', user: 'bob', conversations: ['c'], complete: true });
    b.see('bob/phone', 'final', 'c', 1, 'alice', 'a1').see('bob/phone', 'final', 'c', 2, 'bob', 'b1').see('bob/phone', 'final', 'c', 3, 'alice', 'a2', { body: 'tampered' });
    const r = checkHistory(b.h);
    assert.equal(r.lost, 1);
    assert.equal(r.disagreements, 1, 'bob saw the original a2 live at seq 3, then another body there');
  });

  it('stored but never acked is reported, not bad; system messages are neither', () => {
    const rows: Array<[string, number, string, string]> = [...allRows, ['c', 4, 'bob', 'b2']];
    const b = clean().final('bob/phone', ['c'], rows);
    b.see('bob/phone', 'final', 'g', 1, 'alice', '', { system: true });
    b.h.finals[0].conversations.push('g');
    const r = checkHistory(b.h);
    assert.equal(r.unackedStored, 1);
    assert.equal(badTotal(r), 0);
  });

  it('an incomplete final sync is not a view; with no view the acked messages are unverified, not lost', () => {
    const r = checkHistory(clean().final('bob/phone', ['c'], allRows.slice(0, 1), false).h);
    assert.equal(r.incompleteFinal, 1);
    assert.equal(r.unverified, 3);
    assert.equal(r.lost, 0);
  });
});
