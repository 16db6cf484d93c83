import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { connect } from '@nats-io/transport-node';
import { BranchyCascadeError, CascadeHopError } from '../../src/cascade/errors.ts';
import { listUnits, natsTransport, serveUnitOnNats, unitServiceName, unitSubject, type NatsUnitServer, type UnitInfo } from '../../src/cascade/nats.ts';
import { FROM_HEADER, type FrameHandler, type Transport } from '../../src/cascade/types.ts';
import { needs } from '../system-packages.ts';
import { NATS_SERVER_PACKAGE, startNatsServer, type NatsServer } from '../nats-server.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const echo: FrameHandler = async (frame) => frame;
const bytes = (n: number, seed = 1) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);

function unit(name: string, stages: [number, number], model = 'tiny'): UnitInfo {
  return { name, model, modelId: `sha256:${model}`, stages, version: '0.1.0', description: `unit ${name} of ${model}` };
}

/** The reason a hop failed with, and how long it took to fail. */
async function hopFailure(send: () => Promise<unknown>): Promise<{ reason: string; ms: number; error: CascadeHopError }> {
  const t0 = performance.now();
  try {
    await send();
  } catch (error) {
    assert.ok(error instanceof CascadeHopError, `expected a CascadeHopError, got ${String(error)}`);
    return { reason: error.reason, ms: performance.now() - t0, error };
  }
  assert.fail('the hop succeeded');
}

describe('unitSubject', () => {
  it('is branchy.<model>.<plan id>.<unit>, each name made one subject token', () => {
    const id = '3f2a9c01d4e5';
    assert.equal(unitSubject({ model: 'b-lenet-mnist', id }, 'cloud'), 'branchy.b-lenet-mnist.3f2a9c01d4e5.cloud');
    assert.equal(unitSubject({ model: 'lenet v2', id }, 'edge.1'), 'branchy.lenet_v2.3f2a9c01d4e5.edge_1');
    assert.equal(unitSubject({ model: 'a*b', id }, 'c>d'), 'branchy.a_b.3f2a9c01d4e5.c_d');
    assert.throws(() => unitSubject({ model: '', id }, 'cloud'), { code: 'CASCADE_BAD_PLAN' });
  });
});

describe('the NATS transport against a real nats-server', { skip: needs(NATS_SERVER_PACKAGE) }, () => {
  let server: NatsServer;
  const open: { close(): Promise<void> }[] = [];
  const served = async (subject: string, handler: FrameHandler, info = unit('cloud', [2, 3])): Promise<NatsUnitServer> => {
    const u = await serveUnitOnNats({ url: server.url, subject, queue: subject, handler, info });
    open.push(u);
    return u;
  };
  const transport = async (subject: string): Promise<Transport> => {
    const t = await natsTransport({ url: server.url, subject, name: 'device' });
    open.push(t);
    return t;
  };

  before(async () => {
    server = await startNatsServer();
  });
  after(async () => {
    await Promise.allSettled(open.map((o) => o.close()));
    await server?.stop();
  });

  it("sends a frame to the unit on its subject and resolves the unit's answer bytes", async () => {
    await served('branchy.tiny.round-trip', async (frame) => Uint8Array.from(frame).reverse());
    const t = await transport('branchy.tiny.round-trip');
    assert.equal(t.kind, 'nats');
    assert.equal(t.target, `${server.url}/branchy.tiny.round-trip`);
    const frame = bytes(1000);
    assert.deepEqual(await t.forward(frame, 2000), Uint8Array.from(frame).reverse());
    assert.deepEqual(await t.forward(new Uint8Array(0), 2000), new Uint8Array(0));
  });

  it('names the sending unit in the branchy-from header', async () => {
    const nc = await connect({ servers: server.url });
    open.push(nc);
    const seen: string[] = [];
    nc.subscribe('branchy.tiny.headers', {
      callback: (_e, msg) => {
        seen.push(msg.headers?.get(FROM_HEADER) ?? '');
        msg.respond(msg.data);
      },
    });
    await nc.flush();
    const t = await transport('branchy.tiny.headers');
    await t.forward(bytes(8), 2000);
    assert.deepEqual(seen, ['device']);
  });

  it('two replicas in one queue group each answer at least a quarter of 200 requests', async () => {
    await served('branchy.tiny.shared', async () => Uint8Array.of(1));
    await served('branchy.tiny.shared', async () => Uint8Array.of(2));
    const t = await transport('branchy.tiny.shared');
    const answered = [0, 0, 0];
    for (let round = 0; round < 20; round++) {
      const answers = await Promise.all(Array.from({ length: 10 }, () => t.forward(bytes(64), 2000)));
      for (const a of answers) answered[a[0]]++;
    }
    assert.equal(answered[1] + answered[2], 200);
    assert.ok(answered[1] >= 50 && answered[2] >= 50, `replica 1 answered ${answered[1]}, replica 2 ${answered[2]}`);
  });

  it('runs frames through the handler concurrently, not one after another', async () => {
    await served('branchy.tiny.concurrent', async (frame) => (await sleep(200), frame));
    const t = await transport('branchy.tiny.concurrent');
    const t0 = performance.now();
    await Promise.all(Array.from({ length: 10 }, (_, i) => t.forward(bytes(16, i), 3000)));
    const ms = performance.now() - t0;
    assert.ok(ms < 1000, `10 frames of a 200 ms handler took ${ms.toFixed(0)} ms`);
  });

  it('fails at once with "no responders" when nobody subscribes to the subject', async () => {
    const t = await transport('branchy.tiny.nobody');
    const { reason, ms } = await hopFailure(() => t.forward(bytes(100), 2000));
    assert.equal(reason, 'no responders');
    assert.ok(ms < 200, `no responders took ${ms.toFixed(0)} ms against a 2000 ms deadline`);
  });

  it('fails with "timeout" near the deadline when the handler is slower', async () => {
    await served('branchy.tiny.slow', async (frame) => (await sleep(600), frame));
    const t = await transport('branchy.tiny.slow');
    const { reason, ms } = await hopFailure(() => t.forward(bytes(100), 150));
    assert.equal(reason, 'timeout');
    assert.ok(ms >= 140 && ms < 450, `a 150 ms deadline failed after ${ms.toFixed(0)} ms`);
  });

  it('an error thrown in the handler comes back as "successor refused: CODE" (4xx) or "successor error: CODE" and counts in the stats', async () => {
    const u = await served('branchy.tiny.failing', async (frame) => {
      if (frame[0] === 1) throw new BranchyCascadeError('CASCADE_WRONG_MODEL', 'the frame names model sha256:other', 409);
      throw new TypeError('x is undefined');
    });
    const t = await transport('branchy.tiny.failing');
    const ours = await hopFailure(() => t.forward(Uint8Array.of(1), 2000));
    assert.equal(ours.reason, 'successor refused: CASCADE_WRONG_MODEL');
    assert.match(ours.error.message, /sha256:other/);
    const other = await hopFailure(() => t.forward(Uint8Array.of(2), 2000));
    assert.equal(other.reason, 'successor error: CASCADE_UNIT_FAILED');
    assert.match(other.error.message, /x is undefined/);
    const stats = u.stats();
    assert.equal(stats.numRequests, 2);
    assert.equal(stats.numErrors, 2);
    assert.match(stats.lastError, /^CASCADE_UNIT_FAILED: /);
  });

  it('refuses a frame over max_payload with CASCADE_FRAME_TOO_LARGE naming both sizes, and carries one at the limit', async () => {
    let frames = 0;
    await served('branchy.tiny.big', async (frame) => (frames++, Uint8Array.of(frame.length % 256)));
    const t = await transport('branchy.tiny.big');
    const limit = t.maxFrameBytes ?? 0;
    assert.ok(limit > 1024 * 1024 - 100 && limit < 1024 * 1024, `maxFrameBytes ${limit} is the server's 1 MiB max_payload less the headers`);
    assert.deepEqual(await t.forward(new Uint8Array(limit), 5000), Uint8Array.of(limit % 256));
    await assert.rejects(t.forward(new Uint8Array(limit + 1), 5000), (error: unknown) => {
      assert.ok(error instanceof BranchyCascadeError);
      assert.equal(error.code, 'CASCADE_FRAME_TOO_LARGE');
      assert.match(error.message, new RegExp(`${limit + 1} bytes.*${limit} bytes`));
      return true;
    });
    assert.equal(frames, 1);
  });

  it('listUnits lists the announced units with their metadata and request counts', async () => {
    const plan = { model: 'listed', id: 'a1b2c3d4e5f6' };
    const device = await served(unitSubject(plan, 'device'), echo, unit('device', [1, 1], 'listed'));
    const cloud = await served(unitSubject(plan, 'cloud'), echo, unit('cloud', [2, 3], 'listed'));
    const toDevice = await transport(device.subject);
    const toCloud = await transport(cloud.subject);
    for (let i = 0; i < 3; i++) await toDevice.forward(bytes(10), 2000);
    for (let i = 0; i < 2; i++) await toCloud.forward(bytes(10), 2000);

    const units = (await listUnits(server.url, 300)).filter((u) => u.model === 'listed');
    assert.deepEqual(
      units.map(({ name, id, unit, model, modelId, stages, version, subject, queueGroup, description }) => ({
        name,
        id,
        unit,
        model,
        modelId,
        stages,
        version,
        subject,
        queueGroup,
        description,
      })),
      [
        {
          name: 'branchy-listed-cloud',
          id: cloud.id,
          unit: 'cloud',
          model: 'listed',
          modelId: 'sha256:listed',
          stages: [2, 3],
          version: '0.1.0',
          subject: 'branchy.listed.a1b2c3d4e5f6.cloud',
          queueGroup: 'branchy.listed.a1b2c3d4e5f6.cloud',
          description: 'unit cloud of listed',
        },
        {
          name: 'branchy-listed-device',
          id: device.id,
          unit: 'device',
          model: 'listed',
          modelId: 'sha256:listed',
          stages: [1, 1],
          version: '0.1.0',
          subject: 'branchy.listed.a1b2c3d4e5f6.device',
          queueGroup: 'branchy.listed.a1b2c3d4e5f6.device',
          description: 'unit device of listed',
        },
      ],
    );
    assert.deepEqual(
      units.map((u) => [u.stats?.numRequests, u.stats?.numErrors, u.stats?.lastError]),
      [
        [2, 0, ''],
        [3, 0, ''],
      ],
    );
    for (const u of units) {
      assert.ok((u.stats?.processingTimeNs ?? 0) > 0 && (u.stats?.averageProcessingTimeNs ?? 0) > 0);
      assert.ok(!Number.isNaN(Date.parse(u.stats?.started ?? '')));
    }
  });

  it('answers $SRV.PING by service name and by id with a ping_response', async () => {
    const u = await served(unitSubject({ model: 'pinged', id: 'a1b2c3d4e5f6' }, 'cloud'), echo, unit('cloud', [2, 3], 'pinged'));
    assert.equal(u.service, unitServiceName({ model: 'pinged', name: 'cloud' }));
    const nc = await connect({ servers: server.url });
    open.push(nc);
    for (const subject of [`$SRV.PING.${u.service}`, `$SRV.PING.${u.service}.${u.id}`]) {
      const reply = (await nc.request(subject, undefined, { timeout: 1000 })).json<Record<string, unknown>>();
      assert.deepEqual(reply, {
        type: 'io.nats.micro.v1.ping_response',
        name: 'branchy-pinged-cloud',
        id: u.id,
        version: '0.1.0',
        metadata: { model: 'pinged', modelId: 'sha256:pinged', unit: 'cloud', stages: '2-3' },
      });
    }
  });
});

describe('the NATS transport across a server restart', { skip: needs(NATS_SERVER_PACKAGE) }, () => {
  let server: NatsServer;
  let units: NatsUnitServer[] = [];
  let t: Transport;
  let toSlow: Transport;

  before(async () => {
    server = await startNatsServer();
    const serve = (subject: string, handler: FrameHandler) =>
      serveUnitOnNats({ url: server.url, subject, queue: subject, handler, info: unit('cloud', [2, 3]) });
    units = [await serve('branchy.tiny.cloud', echo), await serve('branchy.tiny.slow-cloud', async (frame) => (await sleep(1000), frame))];
    t = await natsTransport({ url: server.url, subject: 'branchy.tiny.cloud', name: 'device' });
    toSlow = await natsTransport({ url: server.url, subject: 'branchy.tiny.slow-cloud', name: 'device' });
  });
  after(async () => {
    await Promise.allSettled([t, toSlow, ...units].map((o) => o?.close()));
    await server?.stop();
  });

  it('fails with "unreachable" at once while the server is down, and forwards again within seconds of its restart', async () => {
    assert.deepEqual(await t.forward(bytes(32), 2000), bytes(32));
    // A request in flight when the connection drops fails then, not at its deadline.
    const inFlight = hopFailure(() => toSlow.forward(bytes(32), 5000));
    await sleep(100);
    await server.stop();
    const dropped = await inFlight;
    assert.equal(dropped.reason, 'unreachable');
    assert.ok(dropped.ms < 1000, `the request in flight failed after ${dropped.ms.toFixed(0)} ms (deadline 5000 ms)`);
    // The client sees the socket close and knows the hop cannot succeed: it fails fast rather than waiting out the deadline.
    const down = await hopFailure(() => t.forward(bytes(32), 2000));
    assert.equal(down.reason, 'unreachable');
    assert.ok(down.ms < 500, `failing while the server is down took ${down.ms.toFixed(0)} ms`);

    await server.restart();
    const t0 = performance.now();
    let answer: Uint8Array | undefined;
    const reasons = new Set<string>();
    for (let i = 0; i < 100 && performance.now() - t0 < 5000 && !answer; i++) {
      try {
        answer = await t.forward(bytes(32), 500);
      } catch (error) {
        assert.ok(error instanceof CascadeHopError);
        reasons.add(error.reason);
        await sleep(50);
      }
    }
    assert.deepEqual(answer, bytes(32), `no answer within 5 s of the restart; failures: ${[...reasons].join(', ')}`);
    assert.ok(performance.now() - t0 < 5000);
  });

  it('fails with "unreachable" once closed', async () => {
    const closed = await natsTransport({ url: server.url, subject: 'branchy.tiny.cloud' });
    await closed.close();
    assert.equal((await hopFailure(() => closed.forward(bytes(8), 1000))).reason, 'unreachable');
  });

  it('refuses to start against a server that is not there, with a typed error naming it', async () => {
    await assert.rejects(natsTransport({ url: 'nats://127.0.0.1:1', subject: 'branchy.tiny.cloud' }), {
      code: 'CASCADE_NATS_UNREACHABLE',
      message: /cannot connect to the NATS server at nats:\/\/127\.0\.0\.1:1/,
    });
  });
});
