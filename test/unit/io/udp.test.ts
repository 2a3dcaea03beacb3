import { execSync } from 'node:child_process';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { UdpTransport } from '../../../src/io/udp.js';

const open: UdpTransport[] = [];
function transport(opts?: ConstructorParameters<typeof UdpTransport>[0]): UdpTransport {
  const t = new UdpTransport(opts);
  open.push(t);
  return t;
}

afterEach(async () => {
  await Promise.all(open.splice(0).map((t) => t.close()));
});

/** Resolves with the next `n` datagrams delivered to `t`. */
function receive(t: UdpTransport, n: number): Promise<Array<{ data: string; address: string; port: number }>> {
  return new Promise((resolve) => {
    const got: Array<{ data: string; address: string; port: number }> = [];
    t.onMessage((buf, address, port) => {
      got.push({ data: buf.toString(), address, port });
      if (got.length === n) resolve(got);
    });
  });
}

describe('UdpTransport', () => {
  for (const host of ['127.0.0.1', '::1']) {
    it(`binds ${host} port 0 and exchanges datagrams both ways`, async () => {
      const a = transport();
      const b = transport();
      const listening = once(a, 'listening');
      await a.bind(0, host);
      await listening;
      await b.bind(0, host);
      const aa = a.address();
      const ba = b.address();
      expect(aa.address).toBe(host);
      expect(aa.family).toBe(host === '::1' ? 'IPv6' : 'IPv4');
      expect(aa.port).toBeGreaterThan(0);
      expect(ba.port).not.toBe(aa.port);

      const atB = receive(b, 2);
      const payload = Buffer.from('xxhelloyy');
      a.send(payload, 2, 5, ba.port, host);
      a.send(new Uint8Array([119, 111, 114, 108, 100]), 0, 5, ba.port, host);
      const got = await atB;
      expect(got).toEqual([
        { data: 'hello', address: host, port: aa.port },
        { data: 'world', address: host, port: aa.port },
      ]);

      const atA = receive(a, 1);
      b.send(Buffer.from('reply'), 0, 5, aa.port, host);
      expect(await atA).toEqual([{ data: 'reply', address: host, port: ba.port }]);
      expect(a.stats).toMatchObject({ sent: 2, received: 1, sendErrors: 0 });
      expect(b.stats).toMatchObject({ sent: 1, received: 2, sendErrors: 0 });
    });
  }

  it('infers udp6 from the bind address and honours an explicit type', async () => {
    const six = transport();
    await six.bind(0, '::1');
    expect(six.address().family).toBe('IPv6');
    const anyV6 = transport({ type: 'udp6' });
    await anyV6.bind(0);
    expect(anyV6.address()).toMatchObject({ address: '::', family: 'IPv6' });
    const anyV4 = transport();
    await anyV4.bind(0);
    expect(anyV4.address()).toMatchObject({ address: '0.0.0.0', family: 'IPv4' });
  });

  it('rejects bind with EADDRINUSE and can bind again elsewhere', async () => {
    const a = transport();
    await a.bind(0, '127.0.0.1');
    const b = transport();
    await expect(b.bind(a.address().port, '127.0.0.1')).rejects.toMatchObject({ code: 'EADDRINUSE' });
    await b.bind(0, '127.0.0.1');
    expect(b.address().port).not.toBe(a.address().port);
  });

  it('rejects a second bind', async () => {
    const a = transport();
    await a.bind(0, '127.0.0.1');
    await expect(a.bind(0, '127.0.0.1')).rejects.toMatchObject({ code: 'ERR_SOCKET_ALREADY_BOUND' });
  });

  it('raises the kernel buffers to 4 MiB by default, or what the system allows', async () => {
    const a = transport();
    await a.bind(0, '127.0.0.1');
    // Linux grants min(request, rmem_max/wmem_max) and reports it doubled (bookkeeping overhead).
    expect(a.getRecvBufferSize()).toBeGreaterThanOrEqual(Math.min(4 << 20, systemMax('rmem_max')));
    expect(a.getSendBufferSize()).toBeGreaterThanOrEqual(Math.min(4 << 20, systemMax('wmem_max')));
  });

  it('halves a refused buffer request until the system accepts it, and honours small requests', async () => {
    // Linux caps silently; macOS refuses above kern.ipc.maxsockbuf. Emulate a 1 MiB limit.
    const real = dgram.Socket.prototype.setRecvBufferSize;
    const tried: number[] = [];
    const spy = vi.spyOn(dgram.Socket.prototype, 'setRecvBufferSize').mockImplementation(function (
      this: dgram.Socket,
      n: number,
    ) {
      tried.push(n);
      if (n > 1024 * 1024) throw Object.assign(new Error('ENOBUFS'), { code: 'ERR_SOCKET_BUFFER_SIZE' });
      real.call(this, n);
    });
    try {
      const a = transport({ sendBufferSize: 32 * 1024 });
      await a.bind(0, '127.0.0.1');
      expect(tried).toEqual([4 << 20, 2 << 20, 1 << 20]);
      expect(a.getRecvBufferSize()).toBeGreaterThanOrEqual(Math.min(1 << 20, systemMax('rmem_max')));
      expect(a.getSendBufferSize()).toBeLessThanOrEqual(2 * 32 * 1024 + 4096);
    } finally {
      spy.mockRestore();
    }
  });

  it('says when dgram queued a datagram by reference, and only then (libuv send queue)', async () => {
    const a = transport();
    await a.bind(0, '127.0.0.1');
    const b = transport();
    await b.bind(0, '127.0.0.1');
    // Loopback never queues (the kernel delivers at once), so the queue count is stubbed here; the
    // test below makes real queuing behind a slow link.
    let queue = 0;
    const spy = vi.spyOn(dgram.Socket.prototype, 'getSendQueueCount').mockImplementation(() => queue);
    try {
      expect(a.send(Buffer.from('x'), 0, 1, b.address().port, '127.0.0.1')).toBe(false);
      queue = 1;
      expect(a.send(Buffer.from('y'), 0, 1, b.address().port, '127.0.0.1')).toBe(true);
      expect(a.stats.queued).toBe(1);
    } finally {
      spy.mockRestore();
    }
  });

  const root = process.platform === 'linux' && process.getuid?.() === 0 && hasIp();
  it.skipIf(!root)(
    'really queues behind a 1 Mbit/s link in a network namespace of its own, and reports it',
    async () => {
      const ns = `utpxq${process.pid}`;
      const dev = `uq${process.pid % 100000}`;
      const sh = (cmd: string) => execSync(cmd, { stdio: 'pipe' });
      try {
        sh(`ip netns add ${ns}`);
        sh(`ip link add ${dev}a type veth peer name ${dev}b`);
        sh(`ip link set ${dev}b netns ${ns}`);
        sh(`ip addr add 10.251.0.1/30 dev ${dev}a && ip link set ${dev}a up`);
        sh(`ip netns exec ${ns} ip addr add 10.251.0.2/30 dev ${dev}b`);
        sh(`ip netns exec ${ns} ip link set ${dev}b up`);
        sh(`tc qdisc add dev ${dev}a root tbf rate 1mbit burst 10kb latency 400ms`);
        const a = transport({ sendBufferSize: 16 * 1024 });
        await a.bind(0, '10.251.0.1');
        const results: boolean[] = [];
        for (let i = 0; i < 100; i++) results.push(a.send(Buffer.alloc(1400, i), 0, 1400, 9, '10.251.0.2'));
        expect(results[0]).toBe(false);
        expect(a.stats.queued).toBeGreaterThan(0);
        expect(results.filter(Boolean).length).toBe(a.stats.queued);
        // Once one waits, every later one does too (libuv keeps the order).
        expect(results.slice(results.indexOf(true)).every(Boolean)).toBe(true);
        await a.close();
      } finally {
        execSync(`ip link del ${dev}a 2>/dev/null; ip netns del ${ns} 2>/dev/null; true`, { shell: '/bin/sh' });
      }
    },
  );

  it('counts a send after close instead of throwing', async () => {
    const a = transport();
    await a.bind(0, '127.0.0.1');
    await a.close();
    expect(() => a.send(Buffer.from('x'), 0, 1, 9, '127.0.0.1')).not.toThrow();
    expect(a.stats.droppedAfterClose).toBe(1);
    expect(a.stats.sent).toBe(0);
    await a.close(); // idempotent
  });

  it('counts failed sends (bad port, before bind, oversized) as warnings, never throws', async () => {
    const unbound = transport();
    const warnings: Array<{ code?: string }> = [];
    unbound.on('warning', (e) => warnings.push(e));
    unbound.send(Buffer.from('x'), 0, 1, 9, '127.0.0.1');
    expect(unbound.stats.sendErrors).toBe(1);

    const a = transport();
    a.on('warning', (e) => warnings.push(e));
    await a.bind(0, '127.0.0.1');
    a.send(Buffer.from('x'), 0, 1, 0, '127.0.0.1'); // port 0: synchronous error in dgram
    const big = Buffer.alloc(70_000);
    const asyncWarning = once(a, 'warning');
    a.send(big, 0, big.length, 9, '127.0.0.1'); // EMSGSIZE: reported on a later tick
    await asyncWarning;
    expect(a.stats.sendErrors).toBe(2);
    expect(warnings.map((w) => w.code)).toEqual(['ERR_SOCKET_DGRAM_NOT_RUNNING', 'ERR_SOCKET_BAD_PORT', 'EMSGSIZE']);
  });

  it('catches a throwing message handler and keeps receiving', async () => {
    const a = transport();
    const b = transport();
    await a.bind(0, '127.0.0.1');
    await b.bind(0, '127.0.0.1');
    const warnings: Error[] = [];
    b.on('warning', (e) => warnings.push(e));
    let calls = 0;
    const second = new Promise<string>((resolve) => {
      b.onMessage((buf) => {
        if (++calls === 1) throw new Error('handler bug');
        resolve(buf.toString());
      });
    });
    a.send(Buffer.from('one'), 0, 3, b.address().port, '127.0.0.1');
    a.send(Buffer.from('two'), 0, 3, b.address().port, '127.0.0.1');
    expect(await second).toBe('two');
    expect(b.stats.handlerErrors).toBe(1);
    expect(warnings.map((w) => w.message)).toEqual(['handler bug']);
  });

  it('close() before bind resolves and emits close; bind after close rejects', async () => {
    const a = transport();
    const closed = once(a, 'close');
    await a.close();
    await closed;
    await expect(a.bind(0, '127.0.0.1')).rejects.toMatchObject({ code: 'ERR_SOCKET_DGRAM_NOT_RUNNING' });
  });

  it('close() during bind rejects the bind', async () => {
    const a = transport();
    // An IP literal binds synchronously (no lookup); a host name keeps the bind pending for a tick.
    const bound = a.bind(0, 'localhost');
    const closed = a.close();
    await expect(bound).rejects.toMatchObject({ code: 'ERR_SOCKET_DGRAM_NOT_RUNNING' });
    await closed;
  });

  it('binds an IP literal at once: the bind has completed when close() is called', async () => {
    const a = transport();
    const bound = a.bind(0, '127.0.0.1');
    expect(a.address().port).toBeGreaterThan(0);
    await bound;
    await a.close();
  });

  it('rejects an out-of-range port (dgram would wrap it) and can bind afterwards', async () => {
    const a = transport();
    for (const port of [-1, 70_000, 1.5]) {
      await expect(a.bind(port, '127.0.0.1')).rejects.toMatchObject({ code: 'ERR_SOCKET_BAD_PORT' });
    }
    await a.bind(0, '127.0.0.1');
    expect(a.address().port).toBeGreaterThan(0);
  });

  it('address() throws when not bound', () => {
    const a = transport();
    expect(() => a.address()).toThrow(/not bound/);
  });

  it('ref/unref are chainable before and after bind', async () => {
    const a = transport();
    expect(a.unref()).toBe(a);
    await a.bind(0, '127.0.0.1');
    expect(a.ref().unref()).toBe(a);
  });
});

/** Linux's cap on socket buffer requests (net.core.rmem_max / wmem_max); elsewhere no known cap. */
function systemMax(name: 'rmem_max' | 'wmem_max'): number {
  try {
    return Number(readFileSync(`/proc/sys/net/core/${name}`, 'utf8').trim());
  } catch {
    return Number.POSITIVE_INFINITY;
  }
}

function hasIp(): boolean {
  try {
    execSync('ip -V', { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
