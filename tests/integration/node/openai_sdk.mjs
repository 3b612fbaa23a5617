// tests/integration/node/openai_sdk.mjs -- the official openai SDK as
// lmd's client (run by test_api_openai_sdk.sh).
//
// The SDK is what users run, so each call here is one a user would make:
// models.list; chat.completions.create and completions.create, streamed
// (for await) and not, whose texts agree at temperature 0; n: 2; logprobs
// in both endpoints' shapes; a stop string; and the SDK's typed errors
// for a 404, a 400 and a 401, which it builds from lmd's error objects.
// argv: MODEL (the served stories260K).  The API key is LMD_API_KEY.

import {
    API_KEY, PORT, check, eq, fail, main, none, note, loadOpenAI,
} from './lib.mjs';

const MODEL = process.argv[2];
const OpenAI = loadOpenAI();

const client = new OpenAI({
    baseURL: `http://127.0.0.1:${PORT}/v1`, apiKey: API_KEY,
    maxRetries: 0, timeout: 30000,
});

const CHAT = [
    { role: 'system', content: 'You tell short stories to children.' },
    { role: 'user', content: 'Tell me about a dog and a ball.' },
];
const PROMPT = 'Once upon a time';

// collect(stream, kind): the chunks of an SDK stream as
// {text[], finish[], roleFirst[], usage, n, chunks}.
async function collect(stream, kind) {
    const out = { text: [], finish: [], role: [], usage: null, chunks: 0,
                  problems: [] };
    for await (const chunk of stream) {
        out.chunks++;
        if (chunk.usage) {
            if (chunk.choices.length) {
                out.problems.push('the usage chunk has choices');
            }
            out.usage = chunk.usage;
            continue;
        }
        if (out.usage) {
            out.problems.push('a chunk after the usage chunk');
        }
        for (const c of chunk.choices) {
            const i = c.index;
            if (out.text[i] === undefined) {
                out.text[i] = '';
                out.role[i] = kind === 'chat' ? c.delta.role : 'n/a';
            }
            if (out.finish[i]) {
                out.problems.push(`choice ${i}: a chunk after finish_reason`);
            }
            out.text[i] += (kind === 'chat' ? c.delta.content : c.text) || '';
            if (c.finish_reason) {
                out.finish[i] = c.finish_reason;
            }
        }
    }
    return out;
}

// expectError(what, Class, status, param, code, fn): fn throws Class.
async function expectError(what, Class, status, param, code, fn) {
    try {
        await fn();
        fail(what, 'no error was thrown');
        return;
    } catch (e) {
        if (!(e instanceof Class)) {
            fail(what, `threw ${e && e.constructor && e.constructor.name}: `
                       + `${e && e.message}`);
            return;
        }
        const body = e.error || {};
        const want = [];
        if (e.status !== status) {
            want.push(`status ${e.status}, want ${status}`);
        }
        if (!('param' in body) || !('code' in body)) {
            want.push(`error object without param or code: `
                      + JSON.stringify(body));
        }
        if (param !== undefined && !param.includes(e.param)) {
            want.push(`param ${JSON.stringify(e.param)}, want ${param}`);
        }
        if (code !== undefined && e.code !== code) {
            want.push(`code ${JSON.stringify(e.code)}, want ${code}`);
        }
        if (typeof e.type !== 'string' || !e.message) {
            want.push('no type or message');
        }
        none(what, want);
    }
}

main(async () => {
    // ----------------------------------------------------------- models
    const models = await client.models.list();
    check('models.list() contains the served model',
        models.data.some((m) => m.id === MODEL && m.object === 'model'),
        JSON.stringify(models.data));

    // ---------------------------------------------- chat, not streamed
    const req = { model: MODEL, messages: CHAT, temperature: 0,
                  max_tokens: 40 };
    const c1 = await client.chat.completions.create(req);
    const ch = c1.choices[0];
    check('chat: one choice with an assistant message',
        c1.object === 'chat.completion' && c1.choices.length === 1
        && ch.index === 0 && ch.message.role === 'assistant'
        && typeof ch.message.content === 'string'
        && ch.message.content.length > 0, JSON.stringify(c1));
    check('chat: finish_reason is stop or length',
        ['stop', 'length'].includes(ch.finish_reason), ch.finish_reason);
    const u = c1.usage || {};
    check('chat: usage counts prompt and completion tokens',
        u.prompt_tokens > 0 && u.completion_tokens > 0
        && u.completion_tokens <= 40
        && u.total_tokens === u.prompt_tokens + u.completion_tokens,
        JSON.stringify(u));
    check('chat: a length finish used all 40 tokens',
        ch.finish_reason !== 'length' || u.completion_tokens === 40,
        JSON.stringify(u));
    check('chat: id, created and model are set',
        /^chatcmpl-/.test(c1.id) && c1.created > 1.6e9
        && c1.model === MODEL, `${c1.id} ${c1.created} ${c1.model}`);
    note(`chat answer: ${JSON.stringify(ch.message.content)}`);

    const c1b = await client.chat.completions.create(req);
    eq('chat: temperature 0 twice, the same text', c1b.choices[0].message
        .content, ch.message.content);

    // ------------------------------------------------- chat, streamed
    let s = await collect(await client.chat.completions.create(
        { ...req, stream: true }), 'chat');
    none('chat stream: well formed', s.problems);
    eq('chat stream: the first chunk has the role assistant', s.role,
        ['assistant']);
    eq('chat stream: the concatenated deltas are the non-streamed text',
        s.text, [ch.message.content]);
    eq('chat stream: the last choice chunk has the finish_reason', s.finish,
        [ch.finish_reason]);
    check('chat stream: no usage chunk unless asked', s.usage === null,
        JSON.stringify(s.usage));

    s = await collect(await client.chat.completions.create(
        { ...req, stream: true, stream_options: { include_usage: true } }),
        'chat');
    none('chat stream with include_usage: well formed', s.problems);
    eq('chat stream with include_usage: the same text', s.text,
        [ch.message.content]);
    check('chat stream with include_usage: a final usage chunk, equal to '
        + 'the non-streamed usage', s.usage
        && s.usage.prompt_tokens === u.prompt_tokens
        && s.usage.completion_tokens === u.completion_tokens
        && s.usage.total_tokens === u.total_tokens,
        `${JSON.stringify(s.usage)} vs ${JSON.stringify(u)}`);

    // ------------------------------------------------------ completions
    const creq = { model: MODEL, prompt: PROMPT, temperature: 0,
                   max_tokens: 32 };
    const t1 = await client.completions.create(creq);
    const tc = t1.choices[0];
    check('completions: one choice with text and finish_reason',
        t1.object === 'text_completion' && t1.choices.length === 1
        && typeof tc.text === 'string' && tc.text.length > 0
        && ['stop', 'length'].includes(tc.finish_reason),
        JSON.stringify(t1));
    const tu = t1.usage || {};
    check('completions: usage', tu.prompt_tokens > 0
        && tu.completion_tokens > 0
        && tu.total_tokens === tu.prompt_tokens + tu.completion_tokens,
        JSON.stringify(tu));
    note(`completion: ${JSON.stringify(tc.text)}`);
    s = await collect(await client.completions.create(
        { ...creq, stream: true, stream_options: { include_usage: true } }),
        'text');
    none('completions stream: well formed', s.problems);
    eq('completions stream: the concatenated text is the non-streamed text',
        s.text, [tc.text]);
    eq('completions stream: finish_reason last', s.finish,
        [tc.finish_reason]);
    check('completions stream: the final usage chunk',
        s.usage && s.usage.completion_tokens === tu.completion_tokens
        && s.usage.prompt_tokens === tu.prompt_tokens,
        JSON.stringify(s.usage));

    // -------------------------------------------------------------- n: 2
    const n2 = await client.chat.completions.create({ ...req, n: 2 });
    eq('n: 2 gives two choices, indexes 0 and 1',
        n2.choices.map((c) => c.index).sort(), [0, 1]);
    check('n: 2 at temperature 0: both are the greedy text',
        n2.choices.every((c) => c.message.content === ch.message.content
                                && c.finish_reason === ch.finish_reason),
        JSON.stringify(n2.choices.map((c) => c.message.content)));
    check('n: 2: usage counts both completions',
        n2.usage.completion_tokens === 2 * u.completion_tokens
        && n2.usage.prompt_tokens === u.prompt_tokens,
        JSON.stringify(n2.usage));
    s = await collect(await client.chat.completions.create(
        { ...req, n: 2, stream: true }), 'chat');
    none('n: 2 streamed: well formed', s.problems);
    eq('n: 2 streamed: each choice starts with the role', s.role,
        ['assistant', 'assistant']);
    eq('n: 2 streamed: each choice has the greedy text', s.text,
        [ch.message.content, ch.message.content]);
    const n2s = await client.completions.create(
        { ...creq, n: 2, temperature: 1, seed: 11, max_tokens: 24 });
    check('n: 2 sampled (temperature 1, seed): two texts',
        n2s.choices.length === 2
        && n2s.choices.every((c) => typeof c.text === 'string'),
        JSON.stringify(n2s.choices));

    // ---------------------------------------------------------- logprobs
    const lp = await client.chat.completions.create(
        { ...req, max_tokens: 8, logprobs: true, top_logprobs: 3 });
    const content = lp.choices[0].logprobs && lp.choices[0].logprobs.content;
    const lpw = [];
    if (!Array.isArray(content)) {
        lpw.push(`logprobs.content is ${JSON.stringify(content)}`);
    } else {
        if (content.length !== lp.usage.completion_tokens
            && !(lp.choices[0].finish_reason === 'stop'
                 && content.length === lp.usage.completion_tokens - 1)) {
            lpw.push(`${content.length} entries for `
                     + `${lp.usage.completion_tokens} tokens`);
        }
        for (const t of content) {
            if (typeof t.token !== 'string' || !(t.logprob <= 0)
                || !Array.isArray(t.bytes)
                || !Array.isArray(t.top_logprobs)
                || t.top_logprobs.length !== 3) {
                lpw.push(`entry ${JSON.stringify(t)}`);
                break;
            }
            const top = t.top_logprobs;
            if (!top.every((x, i) => typeof x.token === 'string'
                    && x.logprob <= 0 && Array.isArray(x.bytes)
                    && (i === 0 || top[i - 1].logprob >= x.logprob))) {
                lpw.push(`top_logprobs not sorted: ${JSON.stringify(top)}`);
                break;
            }
            // Greedy: the chosen token is the most likely one.
            if (top[0].token !== t.token
                || Math.abs(top[0].logprob - t.logprob) > 1e-4) {
                lpw.push(`greedy token ${JSON.stringify(t.token)} is not `
                         + `top_logprobs[0] ${JSON.stringify(top[0])}`);
                break;
            }
        }
    }
    none('chat logprobs: content[] of {token, logprob <= 0, bytes, '
         + 'top_logprobs[3] sorted}, the greedy token first', lpw);
    if (Array.isArray(content)) {
        const bytes = Buffer.from(content.flatMap((t) => t.bytes));
        eq('chat logprobs: the tokens\' bytes spell the content',
            bytes.toString('utf8'), lp.choices[0].message.content);
    }

    const tl = await client.completions.create(
        { ...creq, max_tokens: 8, logprobs: 2 });
    const L = tl.choices[0].logprobs || {};
    const tlw = [];
    const k = tl.usage.completion_tokens;
    for (const f of ['tokens', 'token_logprobs', 'top_logprobs',
                     'text_offset']) {
        if (!Array.isArray(L[f])
            || (L[f].length !== k && L[f].length !== k - 1)) {
            tlw.push(`${f}: ${JSON.stringify(L[f])} for ${k} tokens`);
        }
    }
    if (!tlw.length) {
        if (!L.token_logprobs.every((x) => x <= 0)) {
            tlw.push(`token_logprobs ${JSON.stringify(L.token_logprobs)}`);
        }
        if (!L.top_logprobs.every((o) => o && typeof o === 'object'
                && Object.keys(o).length >= 1 && Object.keys(o).length <= 3
                && Object.values(o).every((x) => x <= 0))) {
            tlw.push(`top_logprobs ${JSON.stringify(L.top_logprobs)}`);
        }
        if (L.tokens.join('') !== tl.choices[0].text) {
            tlw.push(`tokens ${JSON.stringify(L.tokens)} do not spell `
                     + JSON.stringify(tl.choices[0].text));
        }
        if (!L.text_offset.every((x, i) => i === 0
                || x === L.text_offset[i - 1] + L.tokens[i - 1].length)) {
            tlw.push(`text_offset ${JSON.stringify(L.text_offset)}`);
        }
    }
    none('completions logprobs: tokens, token_logprobs, top_logprobs '
         + '({token: logprob}), text_offset, one per token', tlw);

    // -------------------------------------------------------------- stop
    // A piece from the middle of the greedy text: the answer must end
    // right before its first occurrence, with finish_reason "stop".
    const g = ch.message.content;
    const at = Math.floor(g.length / 2);
    const stop = g.slice(at, at + 4);
    const want = g.slice(0, g.indexOf(stop));
    note(`stop string ${JSON.stringify(stop)}`);
    const st = await client.chat.completions.create({ ...req, stop });
    eq('stop (a string): the text is cut right before it',
        st.choices[0].message.content, want);
    eq('stop: finish_reason stop', st.choices[0].finish_reason, 'stop');
    s = await collect(await client.chat.completions.create(
        { ...req, stop: [stop], stream: true }), 'chat');
    eq('stop streamed: the same cut text, finish_reason stop',
        [s.text[0], s.finish[0]], [want, 'stop']);
    const tg = tc.text;
    const tstop = tg.slice(Math.floor(tg.length / 2)).trim().slice(0, 3);
    const tst = await client.completions.create({ ...creq, stop: tstop });
    eq('completions stop: cut right before it',
        tst.choices[0].text, tg.slice(0, tg.indexOf(tstop)));

    // ------------------------------------------------------------ errors
    await expectError('unknown model: NotFoundError 404, code '
        + 'model_not_found', OpenAI.NotFoundError, 404, ['model', null],
        'model_not_found', () => client.chat.completions.create(
            { ...req, model: 'no-such-model' }));
    await expectError('temperature 5: BadRequestError 400, param '
        + 'temperature', OpenAI.BadRequestError, 400, ['temperature'],
        undefined, () => client.chat.completions.create(
            { ...req, temperature: 5 }));
    await expectError('completions, temperature 5: BadRequestError 400',
        OpenAI.BadRequestError, 400, ['temperature'], undefined,
        () => client.completions.create({ ...creq, temperature: 5 }));
    await expectError('streamed request, temperature 5: BadRequestError '
        + 'before any chunk', OpenAI.BadRequestError, 400, ['temperature'],
        undefined, () => client.chat.completions.create(
            { ...req, temperature: 5, stream: true }));
    const bad = new OpenAI({
        baseURL: `http://127.0.0.1:${PORT}/v1`, apiKey: 'sk-wrong-key',
        maxRetries: 0, timeout: 30000,
    });
    await expectError('a wrong API key: AuthenticationError 401',
        OpenAI.AuthenticationError, 401, undefined, 'invalid_api_key',
        () => bad.chat.completions.create(req));
    await expectError('a wrong API key, models.list: AuthenticationError',
        OpenAI.AuthenticationError, 401, undefined, undefined,
        () => bad.models.list());
});
