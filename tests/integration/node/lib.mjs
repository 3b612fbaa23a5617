// tests/integration/node/lib.mjs -- what the API test programs share:
// the check lines tests/run.sh counts, a raw HTTP client that keeps the
// bytes and the timing of a streamed answer, a strict reader of OpenAI's
// server-sent events, the Prometheus text of /metrics, and the official
// openai SDK loaded from tests/node.
//
// The programs are started by the tests/integration/test_api_*.sh
// wrappers, which pass the daemon through the environment: LMD_PORT,
// LMD_TEST_NAME (prefix of every line), LMD_PID, LMD_API_KEY (optional),
// LMD_NODE_DIR (where the SDK is installed).

import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

export const HOST = '127.0.0.1';
export const PORT = Number(process.env.LMD_PORT);
export const API_KEY = process.env.LMD_API_KEY || '';
const NAME = process.env.LMD_TEST_NAME || path.basename(process.argv[1]);
const HERE = path.dirname(fileURLToPath(import.meta.url));

// ------------------------------------------------------------ check lines

let nfailed = 0;

// One line each, as tests/integration/lib.sh prints them.
function line(s) {
    return String(s).replace(/\s*\n\s*/g, ' ').slice(0, 600);
}

export function ok(what) {
    console.log(`ok ${NAME}: ${line(what)}`);
}

export function fail(what, why) {
    nfailed++;
    console.log(`not ok ${NAME}: ${line(what)}${why ? ': ' + line(why) : ''}`);
}

export function skip(what, why) {
    console.log(`skip ${NAME}: ${line(what)}: ${line(why)}`);
}

// A comment: not counted, but kept in the log (timings, sizes).
export function note(s) {
    console.log(`# ${line(s)}`);
}

export function check(what, cond, why) {
    if (cond) {
        ok(what);
    } else {
        fail(what, why || 'false');
    }
    return !!cond;
}

// eq: GOT and WANT are the same JSON value.
export function eq(what, got, want) {
    const g = JSON.stringify(got), w = JSON.stringify(want);
    return check(what, g === w, `got ${g}, want ${w}`);
}

// problems: ok when LIST is empty, else fails with its first entries.
export function none(what, list) {
    return check(what, list.length === 0,
        `${list.length} problems: ${list.slice(0, 4).join('; ')}`);
}

// main(fn): runs the async test body; an exception is a failure, and the
// exit status says whether anything failed.
export function main(fn) {
    fn().catch((e) => {
        fail('the test program runs to its end', e && e.stack ? e.stack : e);
    }).finally(() => {
        process.exit(nfailed ? 1 : 0);
    });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export const now = () => Number(process.hrtime.bigint()) / 1e6;    // ms

// --------------------------------------------------------------- the SDK

// The openai package of tests/node, or null (the wrapper skips first).
export function loadOpenAI() {
    const dir = process.env.LMD_NODE_DIR || path.join(HERE, '../../node');
    try {
        return createRequire(path.join(dir, 'package.json'))('openai');
    } catch (e) {
        return null;
    }
}

// --------------------------------------------------------------- raw HTTP

// One request on its own connection (agent: false, so that destroying it
// closes exactly that socket).  Returns a handle at once:
//   h.done      a promise of {status, headers, raw, events, closed, error}
//               (closed: the response ended cleanly; error: why not)
//   h.events    the SSE events parsed so far (see parseEvents)
//   h.onEvent   set to a function(ev, h) to see each event as it comes
//   h.destroy() closes the socket now
//   h.t0, h.tHeader, h.tFirstData, h.tFirstContent  times (ms, now())
export function send({ method = 'POST', path: p, body, headers = {},
                       key = API_KEY, timeout = 60000 }) {
    const data = body === undefined ? undefined
        : typeof body === 'string' ? body : JSON.stringify(body);
    const hdrs = { ...headers };
    if (data !== undefined) {
        hdrs['content-type'] = 'application/json';
        hdrs['content-length'] = Buffer.byteLength(data);
    }
    if (key) {
        hdrs.authorization = `Bearer ${key}`;
    }
    const h = {
        events: [], raw: '', onEvent: null, t0: now(), tHeader: 0,
        tFirstData: 0, tFirstContent: 0, status: 0, headers: {},
        destroyed: false,
    };
    let pending = '';
    h.done = new Promise((resolve) => {
        let settled = false;
        const end = (closed, error) => {
            if (settled) {
                return;
            }
            settled = true;
            clearTimeout(timer);
            resolve({ status: h.status, headers: h.headers, raw: h.raw,
                      events: h.events, closed, error,
                      rest: pending });
        };
        const req = http.request({ host: HOST, port: PORT, method, path: p,
                                   headers: hdrs, agent: false });
        h.req = req;
        const timer = setTimeout(() => {
            end(false, `no complete answer in ${timeout} ms`);
            req.destroy();
        }, timeout);
        req.on('error', (e) => end(false, e.code || e.message));
        req.on('response', (res) => {
            h.tHeader = now();
            h.status = res.statusCode;
            h.headers = res.headers;
            h.res = res;
            res.setEncoding('utf8');
            res.on('data', (s) => {
                h.raw += s;
                pending += s;
                pending = feedEvents(h, pending);
            });
            res.on('end', () => end(true, null));
            res.on('aborted', () => end(false, 'response aborted'));
            res.on('error', (e) => end(false, e.code || e.message));
            res.on('close', () => end(!!res.complete,
                                      res.complete ? null : 'closed early'));
        });
        h.destroy = () => {
            h.destroyed = true;
            req.destroy();
            end(false, 'destroyed by the test');
        };
        req.end(data);
    });
    return h;
}

// request(opts): send() and wait; the body as text.
export async function request(opts) {
    const h = send(opts);
    const r = await h.done;
    return { ...r, body: r.raw, h };
}

// json(r): the parsed body of a response, or undefined.
export function json(r) {
    try {
        return JSON.parse(r.body);
    } catch (e) {
        return undefined;
    }
}

// ------------------------------------------------------ server-sent events

// Events end with a blank line; each line is "data: ..." or a ":" comment
// (text/event-stream, WHATWG HTML 9.2; lmd writes "\n").  Anything else
// is garbage: it is kept as {bad: line} so the checks can name it.
function feedEvents(h, pending) {
    let i;
    while ((i = pending.indexOf('\n\n')) >= 0) {
        const block = pending.slice(0, i);
        pending = pending.slice(i + 2);
        const ev = { t: now(), data: null, comments: [], bad: [] };
        for (const l of block.split('\n')) {
            if (l.startsWith('data: ') || l === 'data:') {
                const d = l.slice(l.startsWith('data: ') ? 6 : 5);
                ev.data = ev.data === null ? d : ev.data + '\n' + d;
            } else if (l.startsWith(':')) {
                ev.comments.push(l);
            } else {
                ev.bad.push(l);
            }
        }
        if (ev.data !== null && !h.tFirstData) {
            h.tFirstData = ev.t;
        }
        if (ev.data !== null && ev.data !== '[DONE]') {
            try {
                ev.json = JSON.parse(ev.data);
            } catch (e) {
                ev.json = undefined;
            }
            if (!h.tFirstContent && hasContent(ev.json)) {
                h.tFirstContent = ev.t;
            }
        }
        h.events.push(ev);
        if (h.onEvent) {
            h.onEvent(ev, h);
        }
    }
    return pending;
}

function hasContent(j) {
    if (!j || !Array.isArray(j.choices)) {
        return false;
    }
    return j.choices.some((c) => (c.delta && c.delta.content)
                                 || (typeof c.text === 'string' && c.text));
}

// readStream(r, {kind, n, usage}): checks a finished SSE response of
// /v1/chat/completions (kind 'chat') or /v1/completions ('text') and
// returns {problems, texts[], finish[], usage, id}.  Rules (OpenAI's
// streaming format): status 200 and text/event-stream; events are data
// lines of JSON (comments allowed); one id and object for the stream;
// each choice's first chat chunk carries the role, its finish_reason
// comes once and last; with usage the last JSON chunk has no choices and
// the usage, every other "usage" is null; without it no chunk carries
// usage; exactly one "data: [DONE]", the last event, nothing after it.
export function readStream(r, { kind = 'chat', n = 1, usage = false } = {}) {
    const p = [];
    const texts = Array(n).fill(''), finish = Array(n).fill(null);
    const seen = Array(n).fill(false);
    const object = kind === 'chat' ? 'chat.completion.chunk'
        : 'text_completion';
    let id = null, u = null, done = 0, afterDone = 0, usageAt = -1;
    if (r.status !== 200) {
        p.push(`status ${r.status}`);
    }
    const ct = (r.headers['content-type'] || '').split(';')[0].trim();
    if (ct !== 'text/event-stream') {
        p.push(`Content-Type '${r.headers['content-type']}'`);
    }
    if (!r.closed) {
        p.push(`the response did not end cleanly (${r.error})`);
    }
    if (r.rest) {
        p.push(`bytes after the last event: ${JSON.stringify(r.rest)}`);
    }
    const data = r.events.filter((e) => e.data !== null);
    r.events.forEach((e) => {
        if (e.bad.length) {
            p.push(`not an SSE line: ${JSON.stringify(e.bad[0])}`);
        }
    });
    data.forEach((e, k) => {
        if (done) {
            afterDone++;
        }
        if (e.data === '[DONE]') {
            done++;
            return;
        }
        const j = e.json;
        if (!j || typeof j !== 'object') {
            p.push(`data is not JSON: ${JSON.stringify(e.data)}`);
            return;
        }
        if (j.object !== object) {
            p.push(`object '${j.object}'`);
        }
        if (id === null) {
            id = j.id;
        } else if (j.id !== id) {
            p.push(`id changed from ${id} to ${j.id}`);
        }
        if (j.error) {
            p.push(`error event: ${JSON.stringify(j.error)}`);
        }
        if (j.usage) {
            if (!usage) {
                p.push('usage without stream_options.include_usage');
            }
            if (u) {
                p.push('two usage chunks');
            }
            u = j.usage;
            usageAt = k;
            if (!Array.isArray(j.choices) || j.choices.length) {
                p.push('the usage chunk has choices');
            }
            return;
        }
        if (usage && j.usage !== null) {
            p.push('a chunk without "usage": null');
        }
        if (!Array.isArray(j.choices) || !j.choices.length) {
            p.push(`a chunk without choices: ${e.data.slice(0, 120)}`);
            return;
        }
        for (const c of j.choices) {
            const i = c.index;
            if (!(i >= 0 && i < n)) {
                p.push(`choice index ${i}`);
                continue;
            }
            if (finish[i] !== null) {
                p.push(`choice ${i}: a chunk after its finish_reason`);
            }
            if (kind === 'chat') {
                const d = c.delta || {};
                if (!seen[i] && d.role !== 'assistant') {
                    p.push(`choice ${i}: the first chunk has no role`);
                }
                if (seen[i] && d.role !== undefined) {
                    p.push(`choice ${i}: the role again`);
                }
                if (typeof d.content === 'string') {
                    texts[i] += d.content;
                }
            } else if (typeof c.text === 'string') {
                texts[i] += c.text;
            } else {
                p.push(`choice ${i}: no text`);
            }
            seen[i] = true;
            if (c.finish_reason !== null && c.finish_reason !== undefined) {
                finish[i] = c.finish_reason;
            }
        }
    });
    if (done !== 1) {
        p.push(`${done} data: [DONE] events, want 1`);
    }
    if (afterDone) {
        p.push(`${afterDone} events after [DONE]`);
    }
    finish.forEach((f, i) => {
        if (f === null) {
            p.push(`choice ${i}: no finish_reason`);
        }
    });
    if (usage) {
        if (!u) {
            p.push('no usage chunk');
        } else if (usageAt !== data.length - 2) {
            p.push('the usage chunk is not the last before [DONE]');
        }
    }
    return { problems: p, texts, finish, usage: u, id };
}

// ---------------------------------------------------------------- metrics

// metrics(): the samples of GET /metrics as [{name, labels, value}].
export async function metrics() {
    const r = await request({ method: 'GET', path: '/metrics',
                              timeout: 10000 });
    if (r.status !== 200) {
        throw new Error(`GET /metrics: status ${r.status}`);
    }
    const out = [];
    for (const l of r.body.split('\n')) {
        const m = /^([A-Za-z_:][A-Za-z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(l);
        if (!m || l.startsWith('#')) {
            continue;
        }
        const labels = {};
        const re = /([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
        let lm;
        while ((lm = re.exec(m[3] || '')) !== null) {
            labels[lm[1]] = lm[2];
        }
        out.push({ name: m[1], labels, value: Number(m[4]) });
    }
    return out;
}

// metric(ms, name, labels): the value of the first sample NAME whose
// labels include LABELS; undefined when there is none.
export function metric(ms, name, labels = {}) {
    const s = ms.find((x) => x.name === name
        && Object.entries(labels).every(([k, v]) => x.labels[k] === v));
    return s ? s.value : undefined;
}

// gauges(ms, model): running, waiting and kv_blocks_used of MODEL.
export function gauges(ms, model) {
    const l = { model };
    return {
        running: metric(ms, 'lmd_requests_running', l),
        waiting: metric(ms, 'lmd_requests_waiting', l),
        used: metric(ms, 'lmd_kv_blocks_used', l),
    };
}

// untilIdle(model, ms): polls /metrics (every 20 ms, for at most MS) until
// MODEL has no running or waiting request and no KV block in use.
// Returns {met, ms (how long it took), last (the last gauges)}.
export async function untilIdle(model, limit = 1000) {
    return until(model, limit,
                 (g) => g.running === 0 && g.waiting === 0 && g.used === 0);
}

// until(model, limit, pred): polls MODEL's gauges until pred holds.
export async function until(model, limit, pred) {
    const t0 = now();
    let g;
    for (;;) {
        g = gauges(await metrics(), model);
        if (pred(g)) {
            return { met: true, ms: Math.round(now() - t0), last: g };
        }
        if (now() - t0 > limit) {
            return { met: false, ms: Math.round(now() - t0), last: g };
        }
        await sleep(20);
    }
}

// ---------------------------------------------------------------- sockets

// connectRefused(): whether a new TCP connection to the port is refused.
export function connectRefused() {
    return new Promise((resolve) => {
        const s = net.connect({ host: HOST, port: PORT });
        s.setTimeout(2000, () => {
            s.destroy();
            resolve(false);
        });
        s.on('connect', () => {
            s.destroy();
            resolve(false);
        });
        s.on('error', (e) => resolve(e.code === 'ECONNREFUSED'));
    });
}

// errorShape(body): what is missing from OpenAI's error object
// {"error": {"message", "type", "param", "code"}}, or '' when complete.
export function errorShape(body) {
    let j;
    try {
        j = JSON.parse(body);
    } catch (e) {
        return `not JSON: ${String(body).slice(0, 120)}`;
    }
    const e = j && j.error;
    if (!e || typeof e !== 'object') {
        return `no error object: ${String(body).slice(0, 120)}`;
    }
    if (typeof e.message !== 'string' || !e.message) {
        return 'no error.message';
    }
    if (typeof e.type !== 'string' || !e.type) {
        return 'no error.type';
    }
    if (!('param' in e) || !('code' in e)) {
        return 'no error.param or error.code';
    }
    return '';
}

// median of a list of numbers.
export function median(xs) {
    const s = [...xs].sort((a, b) => a - b);
    return s.length ? s[Math.floor((s.length - 1) / 2)] : NaN;
}
