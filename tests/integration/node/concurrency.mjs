// tests/integration/node/concurrency.mjs -- 64 streams at once (run by
// test_api_concurrency.sh).
//
// 64 raw HTTP clients each stream a chat completion at temperature 0,
// with its own prompt and max_tokens (8 to 64), all sent together so the
// scheduler batches them.  Every stream must be well-formed SSE on its
// own (lib.mjs readStream: data lines of JSON, role first, finish_reason
// last, the usage chunk, one [DONE], nothing foreign), the ids unique.
// Then each request runs again alone, one after another: its text, finish
// and token count must be what it got in the batch (batching must not
// change results).  Finally /metrics shows nothing running or waiting
// and no KV block in use.  argv: MODEL.

import {
    check, eq, main, metrics, metric, none, note, now, readStream, send,
    sleep, untilIdle,
} from './lib.mjs';

const MODEL = process.argv[2];
const N = 64;

const WHO = ['Lily', 'Tom', 'a little bird', 'the old cat', 'Sue',
             'a big dog', 'Ben', 'the small fish'];
const WHAT = ['a red ball', 'the park', 'a shiny box', 'the sea',
              'a tall tree', 'her mom', 'a funny hat', 'the rain'];

function body(i) {
    return {
        model: MODEL, temperature: 0, stream: true,
        stream_options: { include_usage: true },
        max_tokens: 8 + ((i * 37) % 57),            // 8 .. 64
        messages: [
            { role: 'user', content: `Tell me a story about ${WHO[i % 8]}`
              + ` and ${WHAT[Math.floor(i / 8)]}.` },
        ],
    };
}

function run(i) {
    return send({ path: '/v1/chat/completions', body: body(i),
                  timeout: 60000 }).done;
}

main(async () => {
    // --------------------------------------------------- all at once
    // A watcher samples /metrics meanwhile, to see the batch.
    let watching = true, maxRunning = 0;
    const watcher = (async () => {
        while (watching) {
            const m = await metrics();
            maxRunning = Math.max(maxRunning,
                metric(m, 'lmd_requests_running', { model: MODEL }) || 0);
            await sleep(5);
        }
    })();
    const t0 = now();
    const got = await Promise.all(Array.from({ length: N }, (_, i) => run(i)));
    const t1 = now();
    watching = false;
    await watcher;
    note(`64 streams in ${Math.round(t1 - t0)} ms, at most ${maxRunning} `
         + 'running at once (/metrics)');

    const res = got.map((r, i) => readStream(r, { usage: true }));
    const problems = [];
    res.forEach((r, i) => {
        r.problems.forEach((p) => problems.push(`stream ${i}: ${p}`));
    });
    eq('64 concurrent streams: every one answers 200',
        got.filter((r) => r.status === 200).length, N);
    none('64 concurrent streams: every one is well-formed SSE (role first, '
         + 'finish_reason last, usage chunk, one [DONE], nothing else)',
         problems);
    const lengths = [];
    res.forEach((r, i) => {
        const u = r.usage || {};
        const max = body(i).max_tokens;
        if (!(u.completion_tokens >= 1 && u.completion_tokens <= max)
            || (r.finish[0] === 'length') !== (u.completion_tokens === max)
            || !['stop', 'length'].includes(r.finish[0])) {
            lengths.push(`stream ${i}: ${r.finish[0]} after `
                         + `${u.completion_tokens} of ${max} tokens`);
        }
    });
    none('64 concurrent streams: finish_reason length exactly when '
         + 'max_tokens (8..64) were generated', lengths);
    eq('64 concurrent streams: 64 different ids',
        new Set(res.map((r) => r.id)).size, N);
    check('the scheduler ran them together (lmd_requests_running reached '
          + 'more than 1)', maxRunning > 1, `at most ${maxRunning}`);

    // ------------------------------------------------ each one alone
    const diff = [];
    for (let i = 0; i < N; i++) {
        const r = readStream(await run(i), { usage: true });
        if (r.problems.length) {
            diff.push(`request ${i} alone: ${r.problems[0]}`);
        } else if (r.texts[0] !== res[i].texts[0]
                   || r.finish[0] !== res[i].finish[0]
                   || (r.usage || {}).completion_tokens
                      !== (res[i].usage || {}).completion_tokens) {
            diff.push(`request ${i}: alone ${JSON.stringify(r.texts[0])} `
                      + `(${r.finish[0]}), in the batch `
                      + `${JSON.stringify(res[i].texts[0])} `
                      + `(${res[i].finish[0]})`);
        }
    }
    none('each request alone gives the text, finish_reason and token '
         + 'count it got among the 64', diff);
    note(`request 0: ${JSON.stringify(res[0].texts[0])}`);

    // ------------------------------------------------------- metrics
    const idle = await untilIdle(MODEL, 1000);
    check('/metrics afterwards: lmd_requests_running 0, '
          + 'lmd_requests_waiting 0, lmd_kv_blocks_used 0', idle.met,
          JSON.stringify(idle.last));
    const m = await metrics();
    const gen = metric(m, 'lmd_generation_tokens_total', { model: MODEL });
    const want = 2 * res.reduce((a, r) => a + ((r.usage || {})
        .completion_tokens || 0), 0);
    check('/metrics: lmd_generation_tokens_total counts at least the '
          + `${want} tokens of the 128 answers`, gen >= want,
          `got ${gen}`);
});
