/**
 * The sending side of the Centrifugo fan-out bench (centrifugo_fanout.ts): writes
 * message `index` (data `{"sb":"<index>","p":"xxx..."}`, centrifuge_proto.ts) into the
 * channel and reports each acknowledgement, by one of two paths:
 *
 * - `client` (the bench's default): a client connection that is not a subscriber (the
 *   namespace has allow_publish_for_client) writes publish commands as prepared frames:
 *   a template copied per message with the command id and the index overwritten, every
 *   message due in one timer tick in one write. The cheapest for the bench process, and
 *   the same shape as Switchboard's bench, where the group's creator sends over its own
 *   WebSocket. The ack is the publish reply (matched by command id = index).
 * - `http`: Centrifugo's server HTTP API, POST /api/publish with the API key
 *   (X-API-Key), one request per message over a keep-alive agent (up to 16 requests in
 *   flight): how a backend publishes into Centrifugo. The ack is the 200 answer.
 *
 * Either way the publication goes through the same node.Publish (history append, then
 * the fan-out to subscribers).
 */
import http from 'node:http';
import type { FastWs } from '../chat/fast_ws.js';
import { publishTemplate, writeId, writeIndex, readReplies, messageData } from './centrifuge_proto.js';

export type PublishPath = 'client' | 'http';

export interface Publisher {
  /** Publish messages with indexes [from, to). */
  publish(from: number, to: number): void;
  /** Called once per acknowledged index; `error` is set when Centrifugo refused it. */
  onAck: (index: number, error?: string) => void;
  close(): void;
}

/** Publishes over a connected client (centrifugo_receivers.ts openClient without a channel). */
export function clientPublisher(ws: FastWs, channel: string, bodyBytes: number): Publisher {
  const tpl = publishTemplate(channel, bodyBytes);
  const p: Publisher = {
    onAck: () => {},
    publish(from, to) {
      const len = tpl.frame.length;
      const out = Buffer.allocUnsafe(len * (to - from));
      for (let i = from; i < to; i++) {
        const at = (i - from) * len;
        tpl.frame.copy(out, at);
        writeId(out, at + tpl.idAt, i);
        writeIndex(out, at + tpl.indexAt, i);
      }
      ws.writeRaw(out);
    },
    close: () => ws.close(),
  };
  ws.onMessage = (buf, s, e) => readReplies(buf, s, e, (r) => r.id && p.onAck(r.id, r.errorCode ? `publish_error_${r.errorCode}` : undefined));
  return p;
}

/** Publishes through the server HTTP API. */
export function httpPublisher(apiUrl: string, apiKey: string, channel: string, bodyBytes: number): Publisher {
  // 16 sockets: enough that a tick's burst at the highest rates does not queue behind one request.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  const url = new URL(`${apiUrl}/publish`);
  const p: Publisher = {
    onAck: () => {},
    publish(from, to) {
      for (let i = from; i < to; i++) {
        const body = `{"channel":${JSON.stringify(channel)},"data":${messageData(i, bodyBytes)}}`;
        const req = http.request(
          { agent, host: url.hostname, port: url.port, path: url.pathname, method: 'POST', headers: { 'Content-Type': 'application/json', 'X-API-Key': apiKey, 'Content-Length': Buffer.byteLength(body) } },
          (res) => {
            let text = '';
            res.setEncoding('utf8');
            res.on('data', (d: string) => (text += d));
            res.on('end', () => p.onAck(i, res.statusCode !== 200 ? `http_${res.statusCode}` : text.includes('"error"') ? 'api_error' : undefined));
          },
        );
        req.on('error', () => p.onAck(i, 'http_request_failed'));
        req.end(body);
      }
    },
    close: () => agent.destroy(),
  };
  return p;
}
