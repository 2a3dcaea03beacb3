#!/usr/bin/env node
'use strict';
/**
 * Records a real uTP session between two libutp endpoints (through utp-native) so the codec can be
 * checked against bytes it did not produce itself.
 *
 *   utp-native client  <->  UDP relay (records, drops)  <->  utp-native server
 *
 * The relay drops the first transmission of a few early client DATA packets so the server holds
 * later ones out of order and answers with STATE packets carrying a Selective ACK. Both sides send
 * data and close with end(), so SYN, STATE, DATA and FIN all appear.
 *
 * Usage: node scripts/capture-golden.cjs [out.json]
 * Writes test/fixtures/golden/libutp-session.json by default. Exits by itself.
 */
const dgram = require('node:dgram');
const fs = require('node:fs');
const path = require('node:path');
const utp = require('utp-native');

const HOST = '127.0.0.1';
const CLIENT_BYTES = 6000;
const SERVER_BYTES = 3000;
const ST_DATA = 0;
const ST_STATE = 2;
const EXT_SACK = 1;
// Give up on one attempt rather than hang; libutp's own connect timeout is far longer.
const ATTEMPT_TIMEOUT_MS = 15_000;

const out = process.argv[2] ?? path.join(__dirname, '..', 'test', 'fixtures', 'golden', 'libutp-session.json');

function pattern(n, salt) {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + salt) & 0xff;
  return b;
}

function seqOf(msg) {
  return msg.readUInt16BE(16);
}

/** Whether a datagram is a STATE whose first extension is SACK (enough for libutp's acks). */
function hasSack(msg) {
  return msg.length >= 20 && msg[0] >> 4 === ST_STATE && msg[1] === EXT_SACK;
}

/**
 * One session. `dropRun` is how many consecutive client DATA packets, starting with the 2nd, lose
 * their first transmission; retransmissions pass, so the transfer still completes.
 */
function capture(dropRun) {
  return new Promise((resolve, reject) => {
    const records = [];
    const dropped = new Set();
    let dataSeen = 0;
    let clientAddr = null;
    let serverPort = 0;
    let finished = 0;

    const relay = dgram.createSocket('udp4');
    const server = utp.createServer();

    const timer = setTimeout(() => done(new Error(`attempt with dropRun=${dropRun} timed out`)), ATTEMPT_TIMEOUT_MS);
    let settled = false;
    function done(err) {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      server.close();
      relay.close();
      if (err) reject(err);
      else resolve({ records, dropped: dropped.size });
    }
    function oneSideFinished() {
      if (++finished === 2) done(null);
    }

    relay.on('message', (msg, rinfo) => {
      const fromServer = rinfo.port === serverPort;
      if (!fromServer) clientAddr = rinfo;
      if (!fromServer && msg.length >= 20 && msg[0] >> 4 === ST_DATA) {
        const seq = seqOf(msg);
        if (!dropped.has(seq) && !records.some((r) => r.dir === 'c2s' && r.seq === seq)) {
          dataSeen++;
          if (dataSeen >= 2 && dataSeen < 2 + dropRun) {
            dropped.add(seq);
            return;
          }
        }
      }
      const dir = fromServer ? 's2c' : 'c2s';
      records.push({ dir, hex: msg.toString('hex'), seq: msg.length >= 20 ? seqOf(msg) : -1 });
      if (fromServer) {
        if (clientAddr) relay.send(msg, clientAddr.port, clientAddr.address);
      } else {
        relay.send(msg, serverPort, HOST);
      }
    });

    server.on('connection', (conn) => {
      const chunks = [];
      conn.on('data', (d) => chunks.push(d));
      conn.on('end', () => {
        const got = Buffer.concat(chunks);
        if (!got.equals(pattern(CLIENT_BYTES, 1))) done(new Error('server received corrupted data'));
        conn.end(pattern(SERVER_BYTES, 2));
      });
      conn.on('error', done);
      conn.on('close', oneSideFinished);
    });

    server.listen(0, HOST, () => {
      serverPort = server.address().port;
      relay.bind(0, HOST, () => {
        const client = utp.connect(relay.address().port, HOST);
        const chunks = [];
        client.on('data', (d) => chunks.push(d));
        client.on('end', () => {
          if (!Buffer.concat(chunks).equals(pattern(SERVER_BYTES, 2)))
            done(new Error('client received corrupted data'));
        });
        client.on('error', done);
        client.on('close', oneSideFinished);
        client.end(pattern(CLIENT_BYTES, 1));
      });
    });
  });
}

async function main() {
  for (let dropRun = 1; dropRun <= 4; dropRun++) {
    const { records, dropped } = await capture(dropRun);
    const sacks = records.filter((r) => r.dir === 's2c' && hasSack(Buffer.from(r.hex, 'hex'))).length;
    console.log(`dropRun=${dropRun}: ${records.length} datagrams, ${dropped} dropped, ${sacks} with SACK`);
    if (sacks > 0) {
      fs.mkdirSync(path.dirname(out), { recursive: true });
      const json = records.map(({ dir, hex }) => ({ dir, hex }));
      fs.writeFileSync(out, `${JSON.stringify(json, null, 2)}\n`);
      console.log(`wrote ${out}`);
      return;
    }
  }
  throw new Error('libutp never sent a selective ACK');
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
