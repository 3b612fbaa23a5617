// tests/integration/node/prefix.mjs -- prefix caching seen from the API
// (run by test_api_prefix.sh).
//
// A two-turn chat with a long system prompt (~300 tokens, so with
// 16-token blocks a dozen full blocks are shared): turn 2 is turn 1's
// messages, the assistant's answer and a new user message.  With
// prefix_cache on, turn 2's usage.prompt_tokens_details.cached_tokens is
// a non-zero multiple of the block size covering the shared prompt,
// /metrics' lmd_prefix_cache_hit_tokens_total grows by exactly that, and
// turn 2 reaches its first token sooner than turn 1 (median of TRIALS
// conversations, each with its own system prompt, measured from the
// stream and from the lmd_time_to_first_token_seconds histogram's sum).
// With prefix_cache off (the control) cached_tokens stays 0.
// argv: MODEL_ON MODEL_OFF BLOCK_SIZE [TRIALS].

import {
    check, eq, main, median, metrics, metric, none, note, readStream, send,
} from './lib.mjs';

const [, , ON, OFF, BS, NT] = process.argv;
const BLOCK = Number(BS);
const TRIALS = Math.min(Number(NT || 5), 12);

const OPEN = ['Ann', 'Bob', 'Max', 'Kim', 'Zoe', 'Sam', 'Pip', 'Dot',
              'Ned', 'Liv', 'Rex', 'Tia'];
const STORY = 'She lived in a small house near the big green park with '
    + 'her mom, her dad and a happy little dog named Spot. Every day '
    + 'they went out to play with a red ball under the tall trees. One '
    + 'day the sun was hot and the sky was blue, so they walked to the '
    + 'lake to see the ducks and the fish. The ducks said quack and the '
    + 'fish jumped in the water. Spot ran after a big butterfly and got '
    + 'all wet in the mud. Mom laughed and gave him a bath with warm '
    + 'water and soap. At night they ate soup and bread, read a book '
    + 'about a brave bear, and went to bed with a smile.';

// system(k): a system prompt of its own for conversation k (0 .. 11, or
// -1 for the warm-up): its first word differs, so no conversation shares
// a block with another.
function system(k) {
    if (k < 0) {
        return `Warm up first. ${STORY}`;
    }
    return `${OPEN[k]} ${OPEN[(k * 5 + 3) % OPEN.length]} and `
        + `${OPEN[(k * 7 + 1) % OPEN.length]} tell story number ${k + 1}. `
        + STORY;
}

// turn(model, messages): one streamed request, with what /metrics said
// before and after it.
async function turn(model, messages) {
    const m0 = await metrics();
    const h = send({ path: '/v1/chat/completions', body: {
        model, messages, temperature: 0, max_tokens: 24, stream: true,
        stream_options: { include_usage: true } } });
    const r = await h.done;
    const m1 = await metrics();
    const s = readStream(r, { usage: true });
    const d = (name) => metric(m1, name, { model })
        - metric(m0, name, { model });
    const u = s.usage || {};
    return {
        problems: s.problems, text: s.texts[0], usage: u,
        cached: (u.prompt_tokens_details || {}).cached_tokens,
        ttft: h.tFirstContent ? h.tFirstContent - h.t0 : NaN,
        hit: d('lmd_prefix_cache_hit_tokens_total'),
        sttft: 1000 * d('lmd_time_to_first_token_seconds_sum'),
        scount: d('lmd_time_to_first_token_seconds_count'),
    };
}

async function conversation(model, k) {
    const msgs = [
        { role: 'system', content: system(k) },
        { role: 'user', content: 'What did Spot do at the lake?' },
    ];
    const t1 = await turn(model, msgs);
    const t2 = await turn(model, [...msgs,
        { role: 'assistant', content: t1.text },
        { role: 'user', content: 'And what did they eat at night?' }]);
    return [t1, t2];
}

function fmt(xs) {
    return xs.map((x) => x.toFixed(1)).join(' ');
}

main(async () => {
    const runs = { [ON]: [], [OFF]: [] };
    for (const model of [ON, OFF]) {
        await conversation(model, -1);      // warm-up: threads, pages
        for (let k = 0; k < TRIALS; k++) {
            runs[model].push(await conversation(model, k));
        }
    }
    const all = [...runs[ON], ...runs[OFF]].flat();
    const bad = [];
    all.forEach((t, i) => t.problems.forEach((p) => bad.push(`${i}: ${p}`)));
    none('every turn streams well formed, with a usage chunk', bad);
    check('usage.prompt_tokens_details.cached_tokens is present in every '
          + 'usage', all.every((t) => Number.isInteger(t.cached)),
          JSON.stringify(all.map((t) => t.usage)[0]));

    const on = runs[ON], off = runs[OFF];
    const p1 = on[0][0].usage.prompt_tokens;
    note(`turn 1: ${p1} prompt tokens; turn 2: `
         + `${on[0][1].usage.prompt_tokens}; cached in turn 2: `
         + on.map(([, b]) => b.cached).join(' '));
    check('the system prompt makes turn 1 long (>= 200 tokens)', p1 >= 200,
          `${p1} prompt tokens`);
    eq('prefix_cache on, turn 1 (a new system prompt): cached_tokens 0',
        on.map(([a]) => a.cached), on.map(() => 0));
    const want = BLOCK * Math.floor((p1 - 8) / BLOCK);
    const c2 = [];
    on.forEach(([a, b], k) => {
        if (!(b.cached > 0 && b.cached % BLOCK === 0)) {
            c2.push(`conversation ${k}: ${b.cached}`);
        } else if (b.cached < BLOCK * Math.floor((a.usage.prompt_tokens - 8)
                                                 / BLOCK)
                   || b.cached >= b.usage.prompt_tokens) {
            c2.push(`conversation ${k}: ${b.cached} of `
                    + `${b.usage.prompt_tokens}, turn 1 had `
                    + `${a.usage.prompt_tokens}`);
        }
    });
    none(`prefix_cache on, turn 2: cached_tokens a multiple of ${BLOCK}, `
         + `covering turn 1's prompt (>= ${want}) and less than its own`,
         c2);
    eq('lmd_prefix_cache_hit_tokens_total grows by turn 2\'s cached_tokens '
       + '(and not in turn 1)', on.map(([a, b]) => [a.hit, b.hit]),
       on.map(([, b]) => [0, b.cached]));

    // Time to first token: turn 2 prefills only what is not cached.
    const c1 = on.map(([a]) => a.ttft), c2t = on.map(([, b]) => b.ttft);
    note(`client TTFT ms, prefix_cache on: turn 1 ${fmt(c1)}; turn 2 `
         + fmt(c2t));
    note(`client TTFT ms, prefix_cache off: turn 1 `
         + `${fmt(off.map(([a]) => a.ttft))}; turn 2 `
         + fmt(off.map(([, b]) => b.ttft)));
    check('prefix_cache on: turn 2\'s TTFT (from the stream) is below turn '
          + '1\'s (medians)', median(c2t) < median(c1),
          `${median(c2t).toFixed(1)} ms vs ${median(c1).toFixed(1)} ms`);
    eq('each turn adds 1 to lmd_time_to_first_token_seconds_count',
        all.map((t) => t.scount), all.map(() => 1));
    const s1 = on.map(([a]) => a.sttft), s2 = on.map(([, b]) => b.sttft);
    note(`server TTFT ms (histogram sums), on: turn 1 ${fmt(s1)}; turn 2 `
         + `${fmt(s2)}; off: turn 1 ${fmt(off.map(([a]) => a.sttft))}; `
         + `turn 2 ${fmt(off.map(([, b]) => b.sttft))}`);
    check('prefix_cache on: turn 2\'s TTFT in /metrics\' histogram sum is '
          + 'below turn 1\'s (medians)', median(s2) < median(s1),
          `${median(s2).toFixed(2)} ms vs ${median(s1).toFixed(2)} ms`);

    // The control.
    eq('prefix_cache off: cached_tokens 0 in both turns',
        off.map(([a, b]) => [a.cached, b.cached]), off.map(() => [0, 0]));
    eq('prefix_cache off: lmd_prefix_cache_hit_tokens_total stays put',
        off.map(([a, b]) => a.hit + b.hit), off.map(() => 0));
    eq('prefix_cache off: the same answers as with it on',
        off.map(([a, b]) => [a.text, b.text]),
        on.map(([a, b]) => [a.text, b.text]));
});
