// tests/integration/node/faults.mjs -- clients that leave, a full queue,
// a queue timeout and a graceful stop (run by test_api_faults.sh).
//
// Raw node:http requests, each on its own socket, so the test decides
// when a connection dies.  The models are the wrapper's slow dummy Llama
// (lib_api.sh slow_model), whose long requests hold the batch for
// seconds; /metrics (per model) shows what the scheduler holds.
//
//   node faults.mjs cancel  SLOW        a client that disconnects mid-
//                                       stream, one waiting for a non-
//                                       streamed answer, one still queued
//   node faults.mjs queue   SLOWQ       max_queue 1: 429 + Retry-After
//   node faults.mjs timeout SLOWT       queue_timeout 1s: 503 + Retry-After
//   node faults.mjs sigterm SLOW        SIGTERM (to LMD_PID) with 20
//                                       streams running

import {
    check, connectRefused, eq, errorShape, fail, gauges, main, metrics,
    none, note, now, readStream, send, sleep, until, untilIdle,
} from './lib.mjs';

const [, , SCENARIO, MODEL] = process.argv;

function chat(extra = {}) {
    return {
        model: MODEL, temperature: 0, ignore_eos: true,
        messages: [{ role: 'user', content: 'Tell me a long story.' }],
        ...extra,
    };
}

// post(extra, timeout): sends a chat request with EXTRA fields.
function post(extra, timeout = 60000) {
    return send({ path: '/v1/chat/completions', body: chat(extra), timeout });
}

// long(): a streamed request of 1,500 tokens, resolved once its first
// content has arrived (it is running then).
async function long() {
    const h = post({ stream: true, max_tokens: 1500 });
    const t0 = now();
    while (!h.tFirstContent && now() - t0 < 20000) {
        if (h.status && h.status !== 200) {
            break;
        }
        await sleep(10);
    }
    if (!h.tFirstContent) {
        h.destroy();
        throw new Error(`the long request did not start (status ${h.status})`);
    }
    return h;
}

// idle(what): MODEL is back to no request and no KV block within
// 1 s (called right after the client left).
async function idle(what) {
    const r = await untilIdle(MODEL, 1000);
    check(`${what}: lmd_requests_running/waiting 0 and lmd_kv_blocks_used `
          + `0 within 1 s (${r.ms} ms)`, r.met, JSON.stringify(r.last));
}

// retryAfter(headers): a Retry-After of delay-seconds (RFC 9110 10.2.3).
function retryAfter(headers) {
    const v = headers['retry-after'];
    return typeof v === 'string' && /^[0-9]+$/.test(v.trim());
}

// ------------------------------------------------------------ scenarios

async function cancel() {
    // (a) a stream dropped after 3 chunks.
    let h = post({ stream: true, max_tokens: 1500 });
    let t0 = now();
    while (h.events.filter((e) => e.data !== null).length < 3
           && now() - t0 < 20000 && !h.res?.complete) {
        await sleep(5);
    }
    const seen = h.events.filter((e) => e.data !== null).length;
    check('a stream is running (3 chunks came)', seen >= 3,
          `${seen} chunks, status ${h.status}`);
    let g = gauges(await metrics(), MODEL);
    check('while it streams: 1 running, KV blocks in use',
          g.running === 1 && g.used > 0, JSON.stringify(g));
    h.destroy();
    await idle('(a) client gone after 3 chunks');

    // (a') a client waiting for a non-streamed answer leaves.
    h = post({ max_tokens: 1500 });
    let r = await until(MODEL, 10000, (x) => x.running === 1);
    check('a non-streamed request is running', r.met,
          JSON.stringify(r.last));
    h.destroy();
    await idle('(a\') client gone while waiting for a non-streamed answer');

    // (b) max_batch_size 1: a long request runs, a second one queues, and
    // its client leaves before it starts.
    const first = await long();
    const second = post({ stream: true, max_tokens: 8 });
    r = await until(MODEL, 5000, (x) => x.running === 1 && x.waiting === 1);
    check('max_batch_size 1: the second request waits '
          + '(lmd_requests_waiting 1)', r.met, JSON.stringify(r.last));
    const before = second.events.filter((e) => e.data !== null).length;
    second.destroy();
    r = await until(MODEL, 1000, (x) => x.waiting === 0);
    check(`(b) client gone while queued: lmd_requests_waiting 0 within 1 s `
          + `(${r.ms} ms)`, r.met, JSON.stringify(r.last));
    check('(b) ... and it never produced a chunk', before === 0,
          `${before} chunks`);
    const n0 = first.events.length;
    await sleep(200);
    check('(b) the request in front goes on streaming',
          first.events.length > n0 && !first.res.complete,
          `${n0} -> ${first.events.length} events`);
    eq('(b) ... still alone in the batch',
        gauges(await metrics(), MODEL).running, 1);
    first.destroy();
    await idle('(b) then the one in front gone too');

    // The model still serves.
    const x = readStream(await post({ stream: true, max_tokens: 4 }).done);
    none('afterwards a new request streams to its end', x.problems);
    eq('... with finish_reason length', x.finish, ['length']);
    await idle('afterwards');
}

async function queue() {
    // max_batch_size 1, max_queue 1: one runs, one waits, one is refused.
    const first = await long();
    const b = post({ max_tokens: 4 });
    const c = post({ max_tokens: 4 });
    const t0 = now();
    const [who, done] = await Promise.race([
        b.done.then((x) => ['b', x]), c.done.then((x) => ['c', x])]);
    const other = who === 'b' ? c : b;
    const dt = Math.round(now() - t0);
    eq('max_queue 1 with one running and one waiting: the third gets 429',
        done.status, 429);
    check(`... at once, not after the request in front (${dt} ms)`,
          dt < 1000 && !first.res.complete, `${dt} ms`);
    check('429 carries Retry-After (seconds)', retryAfter(done.headers),
          JSON.stringify(done.headers['retry-after']));
    const shape = errorShape(done.raw);
    check('429 body is OpenAI\'s error object', shape === '', shape);
    // (The gauges may trail a submit by one engine step.)
    const w = await until(MODEL, 1000,
                          (x) => x.running === 1 && x.waiting === 1);
    check('... while the other waits (running 1, waiting 1)', w.met,
          JSON.stringify(w.last));
    first.destroy();
    const o = await other.done;
    eq('once the one in front is gone, the waiting request answers 200',
        o.status, 200);
    await idle('after the 429');
}

async function timeout() {
    // queue_timeout 1s behind a request of several seconds.
    const first = await long();
    const t0 = now();
    const b = post({ max_tokens: 4 });
    const s = post({ stream: true, max_tokens: 4 });
    const r = await b.done;
    const dt = Math.round(now() - t0);
    eq('queue_timeout 1s: a request behind a long one gets 503', r.status,
       503);
    check(`... after about 1 s (${dt} ms)`, dt >= 900 && dt < 5000,
          `${dt} ms`);
    check('503 carries Retry-After (seconds)', retryAfter(r.headers),
          JSON.stringify(r.headers['retry-after']));
    const shape = errorShape(r.raw);
    check('503 body is OpenAI\'s error object', shape === '', shape);
    // Streamed: a 503 if nothing was sent yet, else an error event and
    // [DONE] (the status line is out already).
    const sr = await s.done;
    if (sr.status === 503) {
        const sh = errorShape(sr.raw);
        check('a streamed request times out too: 503, OpenAI\'s error '
              + 'object', sh === '', sh);
    } else {
        const data = sr.events.filter((e) => e.data !== null);
        const err = data.find((e) => e.json && e.json.error);
        check('a streamed request times out too: 503, or an error event '
              + 'then [DONE]', sr.status === 200 && err
              && data[data.length - 1].data === '[DONE]'
              && !data.some((e) => e.json && e.json.choices
                             && e.json.choices.some((c) => c.delta
                                                    && c.delta.content)),
              `status ${sr.status}: ${sr.raw.slice(0, 300)}`);
    }
    check('the request in front was not disturbed', !first.res.complete
          && first.events.length > 3, `${first.events.length} events`);
    first.destroy();
    await idle('after the timeouts');
}

async function sigterm() {
    const N = 20;
    const hs = Array.from({ length: N }, (_, i) => send({
        path: '/v1/chat/completions', timeout: 90000,
        body: chat({ stream: true, max_tokens: 150 + i,
                     stream_options: { include_usage: true } }),
    }));
    const t0 = now();
    while (hs.some((h) => !h.tFirstContent) && now() - t0 < 20000) {
        await sleep(10);
    }
    const started = hs.filter((h) => h.tFirstContent).length;
    const ended = hs.filter((h) => h.res && h.res.complete).length;
    check(`${N} streams are running when the signal comes`,
          started === N && ended === 0,
          `${started} started, ${ended} already ended`);
    process.kill(Number(process.env.LMD_PID), 'SIGTERM');
    const ts = now();
    // The listener closes on the loop's next turn: allow it a moment.
    let refused = false;
    while (!refused && now() - ts < 1000) {
        refused = await connectRefused();
        if (!refused) {
            await sleep(20);
        }
    }
    check('after SIGTERM new connections are refused', refused,
          'a connection was accepted 1 s after the signal');
    const inflight = hs.filter((h) => !(h.res && h.res.complete)).length;
    note(`${inflight} of ${N} streams still in flight when the listener `
         + `was found closed (${Math.round(now() - ts)} ms after SIGTERM)`);
    const rs = await Promise.all(hs.map((h) => h.done));
    const p = [];
    rs.forEach((r, i) => {
        const s = readStream(r, { usage: true });
        s.problems.forEach((x) => p.push(`stream ${i}: ${x}`));
        if (s.finish[0] !== 'length'
            || (s.usage || {}).completion_tokens !== 150 + i) {
            p.push(`stream ${i}: ${s.finish[0]} after `
                   + `${(s.usage || {}).completion_tokens} tokens`);
        }
    });
    none(`all ${N} streams finish after SIGTERM: every token, `
         + 'finish_reason, usage and one [DONE]', p);
    check('(some were still running when the stop began)', inflight > 0,
          'every stream had ended before the listener closed');
}

async function keepalive() {
    // max_batch_size 1: two long requests in front (seconds each), so a
    // third, streamed, waits in the queue longer than the 5 s between
    // keep-alive comments, even on a machine twice as fast as this one.
    const a = await long2000();
    const b = post({ stream: true, max_tokens: 2000 });
    const c = post({ stream: true, max_tokens: 4 });
    const t0 = now();
    while (!c.raw.includes(': keep-alive\n\n') && now() - t0 < 8000
           && !c.tFirstContent) {
        await sleep(50);
    }
    const dt = Math.round(now() - t0);
    check(`a queued stream gets ": keep-alive" comments before any `
          + `content (${dt} ms)`,
          c.raw.includes(': keep-alive\n\n') && !c.tFirstContent,
          `status ${c.status}, raw ${JSON.stringify(c.raw.slice(0, 120))}`);
    eq('... under a 200 text/event-stream header', `${c.status} ${
        (c.headers['content-type'] || '').split(';')[0]}`,
        '200 text/event-stream');
    a.destroy();
    b.destroy();
    const x = readStream(await c.done);
    none('... and it then streams to its end', x.problems);
    eq('... with finish_reason length', x.finish, ['length']);
    await idle('after the keep-alive wait');
}

// long2000(): like long(), 2,000 tokens.
async function long2000() {
    const h = post({ stream: true, max_tokens: 2000 });
    const t0 = now();
    while (!h.tFirstContent && now() - t0 < 20000
           && (h.status === 0 || h.status === 200)) {
        await sleep(10);
    }
    return h;
}

main(async () => {
    const table = { cancel, queue, timeout, sigterm, keepalive };
    if (!table[SCENARIO]) {
        fail(`scenario ${SCENARIO}`, 'unknown');
        return;
    }
    await table[SCENARIO]();
});
