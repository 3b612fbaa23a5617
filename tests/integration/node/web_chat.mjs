// tests/integration/node/web_chat.mjs -- the chat page of html/ in
// headless Chromium (Debian's, driven by playwright-core from
// tests/node), against the real daemon of test_web_chat.sh: stories260K
// and a slow dummy model on the cpu engine, behind an API key.
//
// What a person would do, and what they must see:
//   - the page without a key: the server's 401 as a sentence asking for
//     the key; with the key: the model picker fills from /v1/models;
//   - a message sent with Enter streams an answer chunk by chunk whose
//     text equals what the API answers to the same request at
//     temperature 0 (the same model, messages and max_tokens), with the
//     time to first token and tokens/s under it;
//   - a second turn sends the whole history and again matches the API;
//   - Shift+Enter makes a new line instead of sending;
//   - Stop halfway through a long answer (the slow model; the test adds
//     ignore_eos to the page's request on its way out) keeps the part
//     already shown, and /metrics then shows no running request;
//   - regenerate, edit-and-resend, copy, new chat and the list of past
//     chats surviving a reload, settings remembered across reloads;
//   - a model's /v1/models description (the demo model's) under the bar;
//   - Markdown of an answer (the answer replaced on its way in): lists,
//     emphasis, code, tables, links rendered; an <img onerror> or
//     <script> in an answer or in the user's message stays text and runs
//     nothing; javascript: links are not made;
//   - 429, 500 and a dropped connection shown as readable messages;
//   - at 375 px wide nothing scrolls sideways and the composer is on
//     screen; dark and light themes follow the system.
// Screenshots go to $LMD_SHOTS.

import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import {
    API_KEY, PORT, check, eq, fail, gauges, main, metrics, note, ok,
    request, json, sleep,
} from './lib.mjs';

const NODE_DIR = process.env.LMD_NODE_DIR
    || path.join(path.dirname(new URL(import.meta.url).pathname),
                 '../../node');
const CHROMIUM = process.env.LMD_CHROMIUM || '/usr/bin/chromium';
const SHOTS = process.env.LMD_SHOTS || '/tmp/lmd-web-shots';
const BASE = `http://127.0.0.1:${PORT}/`;
const MODEL = 'stories';
const SLOW = 'slow';

const { chromium } = createRequire(path.join(NODE_DIR, 'package.json'))(
    'playwright-core');

fs.mkdirSync(SHOTS, { recursive: true });

async function shot(page, name) {
    await page.screenshot({ path: path.join(SHOTS, `${name}.png`),
                            fullPage: false });
}

// The API's own answer to the request the page sent (stream off).
async function apiAnswer(req) {
    const r = await request({ path: '/v1/chat/completions',
                              body: { ...req, stream: false,
                                      stream_options: undefined } });
    const j = json(r);
    if (r.status !== 200 || !j) {
        throw new Error(`API answer: status ${r.status} ${r.body}`);
    }
    return j.choices[0].message.content;
}

// Waits until the page is idle again (no answer streaming).
async function idle(page, ms = 30000) {
    await page.waitForFunction(
        () => document.getElementById('app').dataset.state === 'idle',
        null, { timeout: ms });
}

// The raw text of the chats the page keeps in localStorage.
async function stored(page) {
    return page.evaluate(() => JSON.parse(
        localStorage.getItem('lmd.chats') || '[]'));
}

// Sends text from the composer with Enter; returns the JSON body of the
// page's /v1/chat/completions request.
async function sendMessage(page, text) {
    const reqP = page.waitForRequest((r) =>
        r.url().endsWith('/v1/chat/completions') && r.method() === 'POST');
    await page.fill('#input', text);
    await page.press('#input', 'Enter');
    const req = await reqP;
    return JSON.parse(req.postData());
}

async function lastAnswer(page) {
    return page.evaluate(() => {
        const a = [...document.querySelectorAll('.msg.assistant')].pop();
        return a ? {
            text: a.querySelector('.text').innerText,
            stats: (a.querySelector('.stats') || {}).textContent || '',
        } : null;
    });
}

// Counts how many distinct lengths the streaming answer showed.
async function watchGrowth(page) {
    await page.evaluate(() => {
        window.__lens = new Set();
        const obs = new MutationObserver(() => {
            const t = document.querySelector('.msg.streaming .text');
            if (t) {
                window.__lens.add(t.textContent.length);
            }
        });
        obs.observe(document.getElementById('messages'),
                    { subtree: true, childList: true, characterData: true });
        window.__obs = obs;
    });
}

async function growth(page) {
    return page.evaluate(() => {
        window.__obs.disconnect();
        return [...window.__lens].filter((n) => n > 0).length;
    });
}

// ----------------------------------------------------------- the checks

async function keyAndModels(page) {
    await page.goto(BASE);
    await page.waitForSelector('#error:not([hidden])', { timeout: 10000 });
    const err = await page.textContent('#error');
    check('without a key: the 401 shown as asking for the API key',
          /API key/.test(err) && /Settings/.test(err), err);
    await shot(page, '01-key-required');

    await page.click('#toggle-settings');
    check('Settings opens with aria-expanded true',
          await page.getAttribute('#toggle-settings', 'aria-expanded')
          === 'true');
    await page.fill('#api-key', API_KEY);
    await page.press('#api-key', 'Tab');        /* change event */
    await page.waitForFunction(() =>
        document.querySelectorAll('#model option').length >= 2);
    const models = await page.$$eval('#model option', (os) =>
        os.map((o) => o.value));
    check('with the key: the picker lists the models of /v1/models',
          models.includes(MODEL) && models.includes(SLOW),
          JSON.stringify(models));
    check('with the key: the error is gone',
          await page.isHidden('#error'));
    check('the key is kept in localStorage',
          await page.evaluate(() => JSON.parse(
              localStorage.getItem('lmd.apiKey'))) === API_KEY);

    await page.selectOption('#model', MODEL);
    await page.fill('#temperature', '0');
    await page.fill('#max-tokens', '40');
    await page.fill('#seed', '');
    await page.click('#toggle-settings');
}

async function firstTurns(page) {
    const t0 = Date.now();
    const resP = page.waitForResponse((r) =>
        r.url().endsWith('/v1/chat/completions'));
    const req = await sendMessage(page, 'Once upon a time');
    const res = await resP;
    await idle(page);
    const sse = (await res.text()).split('\n\n').filter((e) =>
        e.startsWith('data: {'));
    const a = await lastAnswer(page);
    note(`first answer in ${Date.now() - t0} ms, ${sse.length} events`);
    eq('the request: model, temperature 0, max_tokens 40, stream',
       [req.model, req.temperature, req.max_tokens, req.stream],
       [MODEL, 0, 40, true]);
    const want = await apiAnswer(req);
    const chats = await stored(page);
    const got = chats[0] && chats[0].messages[1]
        ? chats[0].messages[1].content : null;
    eq('the streamed answer equals the API answer at temperature 0', got,
       want);
    eq('the page shows that text', a.text.replace(/\s+/g, ' ').trim(),
       want.replace(/\s+/g, ' ').trim());
    check('it came as a stream (text/event-stream, several chunks)',
          /text\/event-stream/.test(res.headers()['content-type'])
          && sse.length >= 3, `${res.headers()['content-type']}, `
          + `${sse.length} events`);
    check('time to first token and tokens/s under the answer',
          /first token \d+\.\d\d s/.test(a.stats)
          && /\d+\.\d tokens\/s/.test(a.stats), a.stats);
    await shot(page, '02-answer');

    // Shift+Enter: a new line, nothing sent
    await page.fill('#input', 'line one');
    await page.press('#input', 'Shift+Enter');
    await page.type('#input', 'line two');
    eq('Shift+Enter adds a line instead of sending',
       [await page.inputValue('#input'),
        await page.$$eval('.msg', (m) => m.length)],
       ['line one\nline two', 2]);
    await page.fill('#input', '');

    // the second turn carries the history
    const req2 = await sendMessage(page, 'What did she find?');
    await idle(page);
    eq('turn two sends user, assistant, user',
       req2.messages.map((m) => m.role), ['user', 'assistant', 'user']);
    eq('turn two sends the first answer as it was', req2.messages[1].content,
       want);
    const want2 = await apiAnswer(req2);
    const c2 = (await stored(page))[0].messages;
    eq('the second answer equals the API answer to the same history',
       c2[3] && c2[3].content, want2);
    await shot(page, '03-two-turns');

    // regenerate: the same request again, at temperature 0 the same text
    const regenP = page.waitForRequest((r) =>
        r.url().endsWith('/v1/chat/completions'));
    await page.click('.msg.assistant:last-of-type button[title^="Regenerate"]');
    const req3 = JSON.parse((await regenP).postData());
    await idle(page);
    eq('regenerate resends the same messages', req3.messages, req2.messages);
    const c3 = (await stored(page))[0].messages;
    eq('regenerate replaces the last answer (4 messages, same text)',
       [c3.length, c3[3].content], [4, want2]);

    // edit and resend the first message
    await page.click('.msg.user >> nth=0 >> button[title^="Edit"]');
    await page.fill('.msg.user textarea.edit', 'Lily and Tom went');
    const editP = page.waitForRequest((r) =>
        r.url().endsWith('/v1/chat/completions'));
    await page.click('.msg.user button:has-text("Save & send")');
    const req4 = JSON.parse((await editP).postData());
    await idle(page);
    eq('edit and resend: one user message with the new text',
       req4.messages, [{ role: 'user', content: 'Lily and Tom went' }]);
    const c4 = (await stored(page))[0].messages;
    eq('the answers after the edited message are gone, a new one came',
       [c4.length, c4[1].content], [2, await apiAnswer(req4)]);

    // copy
    await page.click('.msg.assistant button[title^="Copy"]');
    await page.waitForSelector('.msg.assistant button:has-text("Copied")',
                               { timeout: 2000 }).catch(() => null);
    check('Copy says it copied',
          await page.isVisible('.msg.assistant button:has-text("Copied")'));
}

async function stopHalfway(page) {
    await page.click('#new-chat');
    await page.click('#toggle-settings');
    await page.selectOption('#model', SLOW);
    await page.fill('#max-tokens', '1500');
    await page.fill('#temperature', '1');
    await page.click('#toggle-settings');
    // the dummy model's random weights would stop at its end token
    // now and then; ignore_eos makes the answer long for sure
    await page.route('**/v1/chat/completions', (route) => {
        const b = JSON.parse(route.request().postData());
        route.continue({ postData: JSON.stringify({ ...b,
                                                    ignore_eos: true }) });
    });
    await watchGrowth(page);
    await sendMessage(page, 'Tell me a very long story.');
    await page.waitForFunction(() => {
        const t = document.querySelector('.msg.streaming .text');
        return t && t.textContent.length > 300;
    }, null, { timeout: 20000 });
    const n = await growth(page);
    check('the answer shows piece by piece as it streams (it grew at '
          + 'least 3 times before Stop)', n >= 3, `${n} lengths`);
    let g = gauges(await metrics(), SLOW);
    check('while it streams, /metrics shows it running', g.running === 1,
          JSON.stringify(g));
    await page.click('#stop');
    await idle(page, 5000);
    await page.unroute('**/v1/chat/completions');
    const a = await lastAnswer(page);
    const c = (await stored(page))[0].messages;
    check('after Stop: the partial answer stays, marked stopped',
          c[1] && c[1].content.length > 40 && /stopped/.test(a.stats),
          `${c[1] && c[1].content.length} chars, stats "${a.stats}"`);
    let running = null;
    for (let i = 0; i < 100; i++) {
        g = gauges(await metrics(), SLOW);
        running = g.running;
        if (running === 0 && g.used === 0) {
            break;
        }
        await sleep(20);
    }
    eq('after Stop: /metrics shows no running request, no KV in use',
       [g.running, g.waiting, g.used], [0, 0, 0]);
    const tokens = Number((/(\d+) tokens(?!\/)/.exec(a.stats) || [])[1]);
    check('the generation was cut early (well under 1500 tokens)',
          tokens > 0 && tokens < 1000, a.stats);
    await shot(page, '04-stopped');
}

async function history(page) {
    const before = await page.$$eval('#chat-list li', (l) => l.length);
    await page.reload();
    await page.waitForFunction(() =>
        document.querySelectorAll('#model option').length >= 2);
    eq('after a reload the past chats are listed',
       await page.$$eval('#chat-list li', (l) => l.length), before);
    check('two chats kept', before === 2, `${before}`);
    const settings = await page.evaluate(() => ({
        model: document.getElementById('model').value,
        max: document.getElementById('max-tokens').value,
        t: document.getElementById('temperature').value,
    }));
    eq('after a reload the settings are kept', settings,
       { model: SLOW, max: '1500', t: '1' });
    await page.click('#chat-list li:nth-child(2) .open');
    const first = await page.$$eval('.msg.user .text',
                                    (l) => l.map((e) => e.textContent));
    eq('opening an older chat shows its messages', first,
       ['Lily and Tom went']);
    await page.click('#chat-list li:nth-child(2) .delete');
    eq('a chat can be deleted',
       await page.$$eval('#chat-list li', (l) => l.length), 1);
}

// An answer of the test's own making: the page's request is answered by
// the route with these SSE chunks instead of the server.
function fakeStream(route, pieces) {
    const chunk = (delta, finish) => `data: ${JSON.stringify({
        id: 'chatcmpl-test', object: 'chat.completion.chunk', created: 0,
        model: MODEL, choices: [{ index: 0, delta, finish_reason: finish }],
    })}\n\n`;
    let body = chunk({ role: 'assistant', content: '' }, null);
    for (const p of pieces) {
        body += chunk({ content: p }, null);
    }
    body += chunk({}, 'stop') + 'data: [DONE]\n\n';
    return route.fulfill({ status: 200, body,
                           headers: { 'content-type': 'text/event-stream' } });
}

async function markdown(page) {
    await page.click('#new-chat');
    await page.evaluate(() => {
        window.__pwned = 0;
    });
    const md = [
        '## A title\n',
        'Here is **bold**, *emphasis*, ~~gone~~ and `x < y`.\n\n',
        '- one\n- two\n  - nested\n\n1. first\n2. second\n\n',
        '```c\nint main(void) { return 0; }\n```\n\n',
        '| a | b |\n|:--|--:|\n| 1 | 2 |\n\n',
        '[lmd](https://example.org/x) and [bad](javascript:alert(1))\n\n',
        '<img src=x onerror="window.__pwned=1"> ',
        '<script>window.__pwned=2</script>\n\n',
        '> quoted\n',
    ];
    await page.route('**/v1/chat/completions',
                     (route) => fakeStream(route, md));
    await sendMessage(page, '<img src=y onerror="window.__pwned=3"> hi');
    await idle(page);
    await page.unroute('**/v1/chat/completions');
    const r = await page.evaluate(() => {
        const a = [...document.querySelectorAll('.msg.assistant .text')]
            .pop();
        const u = [...document.querySelectorAll('.msg.user .text')].pop();
        const q = (s) => [...a.querySelectorAll(s)];
        return {
            strong: q('strong').map((e) => e.textContent),
            em: q('em').map((e) => e.textContent),
            del: q('del').map((e) => e.textContent),
            code: q('p code').map((e) => e.textContent),
            ul: q('ul > li').length, nested: q('ul ul > li').length,
            ol: q('ol > li').map((e) => e.textContent),
            pre: q('pre code').map((e) => [e.textContent, e.dataset.lang]),
            th: q('th').map((e) => [e.textContent, e.style.textAlign]),
            td: q('td').map((e) => e.textContent),
            links: q('a').map((e) => [e.textContent, e.getAttribute('href')]),
            quote: q('blockquote').map((e) => e.textContent.trim()),
            h2: q('h2').map((e) => e.textContent),
            imgs: document.querySelectorAll('#messages img').length,
            scripts: document.querySelectorAll('#messages script').length,
            answerText: a.textContent, userText: u.textContent,
            pwned: window.__pwned,
        };
    });
    eq('markdown: strong, em, del, inline code',
       [r.strong, r.em, r.del, r.code],
       [['bold'], ['emphasis'], ['gone'], ['x < y']]);
    eq('markdown: lists (3 bullets, 1 nested) and a numbered list',
       [r.ul, r.nested, r.ol], [3, 1, ['first', 'second']]);
    eq('markdown: a fenced code block with its language', r.pre,
       [['int main(void) { return 0; }', 'c']]);
    eq('markdown: a table with its alignment', [r.th, r.td],
       [[['a', 'left'], ['b', 'right']], ['1', '2']]);
    eq('markdown: an https link made, a javascript: one left as text',
       r.links, [['lmd', 'https://example.org/x']]);
    eq('markdown: a block quote and a heading', [r.quote, r.h2],
       [['quoted'], ['A title']]);
    eq('HTML in an answer or a message stays text: no img, no script, '
       + 'nothing ran', [r.imgs, r.scripts, r.pwned], [0, 0, 0]);
    check('the answer shows the tags as text',
          r.answerText.includes('<img src=x onerror="window.__pwned=1">')
          && r.answerText.includes('<script>'), r.answerText);
    check('the message shows its tag as text',
          r.userText.startsWith('<img src=y'), r.userText);
    await shot(page, '05-markdown');
}

async function systemPrompt(page) {
    await page.click('#new-chat');
    await page.click('#toggle-settings');
    await page.fill('#system', 'You are a storyteller.');
    await page.click('#toggle-settings');
    await page.route('**/v1/chat/completions',
                     (route) => fakeStream(route, ['Once.']));
    const req = await sendMessage(page, 'hi');
    await idle(page);
    await page.unroute('**/v1/chat/completions');
    eq('the system prompt goes first in the request',
       req.messages, [{ role: 'system', content: 'You are a storyteller.' },
                      { role: 'user', content: 'hi' }]);
    await page.click('#toggle-settings');
    await page.fill('#system', '');
    await page.click('#toggle-settings');
}

async function errors(page) {
    const cases = [
        [429, { error: { message: 'too many requests', type:
                         'rate_limit_error', code: null, param: null } },
         /busy/],
        [503, { error: { message: 'the engine stopped', type:
                         'server_error', code: null, param: null } },
         /server failed \(503\).*the engine stopped/],
    ];
    for (const [status, body, re] of cases) {
        await page.route('**/v1/chat/completions', (route) =>
            route.fulfill({ status, body: JSON.stringify(body),
                            headers: { 'content-type': 'application/json' },
                          }));
        await sendMessage(page, `status ${status}`);
        await idle(page);
        await page.unroute('**/v1/chat/completions');
        const e = await page.textContent('#error');
        check(`a ${status} is shown as a readable message`,
              re.test(e) && await page.isVisible('#error'), e);
    }
    await page.route('**/v1/chat/completions',
                     (route) => route.abort('connectionreset'));
    await sendMessage(page, 'network loss');
    await idle(page);
    await page.unroute('**/v1/chat/completions');
    const e = await page.textContent('#error');
    check('a lost connection is shown as such', /Lost the connection/.test(e),
          e);
    await shot(page, '06-error');
}

async function phone(browser) {
    for (const scheme of ['light', 'dark']) {
        const ctx = await browser.newContext({
            viewport: { width: 375, height: 667 }, colorScheme: scheme,
            deviceScaleFactor: 2, isMobile: true, hasTouch: true,
        });
        const page = await ctx.newPage();
        await page.addInitScript((key) => {
            localStorage.setItem('lmd.apiKey', JSON.stringify(key));
            localStorage.setItem('lmd.settings', JSON.stringify(
                { model: 'stories', temperature: 0, max_tokens: 60 }));
        }, API_KEY);
        await page.goto(BASE);
        await page.waitForFunction(() =>
            document.querySelectorAll('#model option').length >= 2);
        await page.route('**/v1/chat/completions', (route) => fakeStream(
            route, ['A long line: ' + 'x'.repeat(300) + '\n\n',
                    '```\n' + 'y'.repeat(200) + '\n```\n\n',
                    '| a | b | c | d | e |\n|---|---|---|---|---|\n',
                    '| ' + 'word '.repeat(30) + '| 2 | 3 | 4 | 5 |\n']));
        await sendMessage(page, 'hello from a phone');
        await idle(page);
        const m = await page.evaluate(() => ({
            sw: document.scrollingElement.scrollWidth,
            cw: document.documentElement.clientWidth,
            send: (() => {
                const r = document.getElementById('send')
                    .getBoundingClientRect();
                return r.right <= window.innerWidth && r.bottom
                    <= window.innerHeight && r.width > 0;
            })(),
            bg: getComputedStyle(document.body).backgroundColor,
            sidebar: getComputedStyle(document.getElementById('sidebar'))
                .display,
        }));
        check(`375 px (${scheme}): nothing scrolls sideways`,
              m.sw <= m.cw, `scrollWidth ${m.sw}, width ${m.cw}`);
        check(`375 px (${scheme}): Send is on screen, the sidebar folded`,
              m.send && m.sidebar === 'none', JSON.stringify(m));
        const dark = m.bg === 'rgb(22, 24, 28)';
        check(`the ${scheme} theme follows the system`,
              scheme === 'dark' ? dark : m.bg === 'rgb(255, 255, 255)',
              m.bg);
        await shot(page, `07-phone-${scheme}`);
        await page.click('#toggle-sidebar');
        check(`375 px (${scheme}): the Chats button opens the list`,
              await page.isVisible('#chat-list'));
        await shot(page, `08-phone-${scheme}-chats`);
        await ctx.close();
    }
}

// The demo model's description (random weights) shows under the bar;
// /v1/models is answered by the route with one like the demo's.
async function modelNote(browser) {
    const ctx = await browser.newContext({ viewport: { width: 1000,
                                                       height: 700 } });
    const page = await ctx.newPage();
    await page.route('**/v1/models', (route) => route.fulfill({
        status: 200, headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ object: 'list', data: [
            { id: 'demo', object: 'model', created: 0, owned_by: 'lmd',
              description: 'random demo model: untrained weights, '
                           + 'gibberish output' },
            { id: 'real', object: 'model', created: 0, owned_by: 'lmd' },
        ] }) }));
    await page.goto(BASE);
    await page.waitForSelector('#model-note:not([hidden])', { timeout: 5000 })
        .catch(() => null);
    const note = await page.textContent('#model-note');
    check('a model\'s description from /v1/models shows under the bar',
          await page.isVisible('#model-note')
          && note === 'demo: random demo model: untrained weights, '
                      + 'gibberish output', note);
    await page.selectOption('#model', 'real');
    check('and goes away for a model without one',
          await page.isHidden('#model-note'));
    await ctx.close();
}

async function keyboard(page) {
    await page.click('#new-chat');
    await page.keyboard.press('Tab');
    const order = [];
    await page.focus('#new-chat');
    for (let i = 0; i < 14; i++) {
        order.push(await page.evaluate(() => document.activeElement.id
            || document.activeElement.className));
        await page.keyboard.press('Tab');
    }
    note(`tab order: ${order.join(', ')}`);
    const at = (id) => order.indexOf(id) < 0 ? 99 : order.indexOf(id);
    check('Tab goes sidebar, picker, settings, conversation, message box',
          at('new-chat') < at('model') && at('model') < at('toggle-settings')
          && at('toggle-settings') < at('messages')
          && at('messages') < at('input'), order.join(', '));
    const labels = await page.evaluate(() => ['model', 'input', 'system',
        'temperature', 'top-p', 'max-tokens', 'seed', 'api-key'].filter(
        (id) => !document.querySelector(`label[for="${id}"]`)));
    eq('every field has a label', labels, []);
}

main(async () => {
    let browser;
    try {
        browser = await chromium.launch({
            executablePath: CHROMIUM,
            args: ['--headless', '--no-sandbox', '--disable-gpu',
                   '--disable-background-networking'],
        });
    } catch (e) {
        fail('Chromium starts', e.message);
        return;
    }
    ok(`Chromium ${browser.version()} started`);
    try {
        const ctx = await browser.newContext({
            viewport: { width: 1280, height: 800 }, colorScheme: 'light' });
        const page = await ctx.newPage();
        const problems = [];
        page.on('pageerror', (e) => problems.push(e.message));
        page.on('console', (m) => {
            if (m.type() === 'error' && !/status of (401|429|503)/.test(
                m.text()) && !/ERR_CONNECTION_RESET/.test(m.text()))
            {
                problems.push(m.text());
            }
        });
        await keyAndModels(page);
        await firstTurns(page);
        await stopHalfway(page);
        await history(page);
        await markdown(page);
        await systemPrompt(page);
        await errors(page);
        await keyboard(page);
        eq('no script error or CSP violation on the page', problems, []);
        await ctx.close();
        await modelNote(browser);
        await phone(browser);
    } finally {
        await browser.close();
    }
});
