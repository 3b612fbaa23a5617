#!/usr/bin/env node
// hf_tokenizers.js -- hf_tokenizers.py for node: the same measures with
// the `tokenizers` npm package (the Hugging Face Rust library's node
// binding, same version as the Python one), for machines that have npm
// but not pip.  Not run by CI.
//
//   npm install --prefix objs/bench/hf tokenizers
//   NODE_PATH=objs/bench/hf/node_modules node tests/bench/hf_tokenizers.js \
//       [-f FIXTURES] [-i TEXT] [-r N] [FAMILY...] > hf.tsv
//   bash tests/bench/tokenizer.sh --hf hf.tsv
//
// Each encode and decode call of the binding is a Promise run on one
// libuv worker thread; RAYON_NUM_THREADS=1 keeps the library itself on
// one thread.  Only the calls are timed, not the conversion of the ids to
// a JavaScript array.  Line by line, each call also pays the hand-off to
// the worker thread (a few microseconds), which the Python binding does
// not.  The table goes to stderr, the TSV to stdout.
'use strict';

process.env.RAYON_NUM_THREADS = '1';
process.env.TOKENIZERS_PARALLELISM = 'false';

const fs = require('fs');
const path = require('path');

const FAMILIES = ['gpt2', 'llama3', 'qwen2', 'llama2', 'mistral',
                  'internlm2'];

function parseArgs(argv) {
    const shared = process.env.LMD_SHARED || '../shared';
    const o = { fixtures: path.join(shared, 'fixtures', 'tokenizers'),
                text: 'objs/bench/mixed.txt', repeat: 3, families: [] };
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        if (a === '-f') {
            o.fixtures = argv[++i];
        } else if (a === '-i') {
            o.text = argv[++i];
        } else if (a === '-r') {
            o.repeat = Number(argv[++i]);
        } else {
            o.families.push(a);
        }
    }
    if (o.families.length === 0) {
        o.families = FAMILIES;
    }
    return o;
}

async function bestOf(n, fn) {
    let best = Infinity, result;
    for (let i = 0; i < n; i++) {
        const t0 = process.hrtime.bigint();
        result = await fn();
        const dt = Number(process.hrtime.bigint() - t0) / 1e9;
        best = Math.min(best, dt);
    }
    return [best, result];
}

function linesOf(text) {
    const parts = text.split('\n');
    const lines = parts.slice(0, -1).map(p => p + '\n');
    if (parts[parts.length - 1]) {
        lines.push(parts[parts.length - 1]);
    }
    return lines;
}

function pad(s, n, right) {
    s = String(s);
    return right ? s.padEnd(n) : s.padStart(n);
}

async function main() {
    const o = parseArgs(process.argv.slice(2));
    let Tokenizer, version = '?';
    try {
        ({ Tokenizer } = require('tokenizers'));
        version = require('tokenizers/package.json').version;
    } catch (e) {
        console.error('hf_tokenizers.js: the tokenizers package is missing ' +
                      '(npm install tokenizers; set NODE_PATH)');
        process.exit(1);
    }

    const raw = fs.readFileSync(o.text);
    const text = raw.toString('utf8');
    const lines = linesOf(text);
    const opts = { addSpecialTokens: false };

    console.error(`text: ${o.text}, ${raw.length} bytes; tokenizers ` +
                  `${version} (node); best of ${o.repeat} runs, one ` +
                  'thread, no special tokens\n');
    console.error([pad('family', 10, 1), pad('mode', 13, 1), pad('MB/s', 9),
                   pad('tokens/s', 12), pad('tokens', 10), pad('bytes', 10),
                   pad('seconds', 8)].join(' '));
    console.log('impl\tfamily\tmode\tbytes\ttokens\tseconds\tmb_s\ttok_s');

    const report = (family, mode, bytes, tokens, secs) => {
        const mbs = bytes / 1e6 / secs, toks = tokens / secs;
        console.error([pad(family, 10, 1), pad(mode, 13, 1),
                       pad(mbs.toFixed(2), 9), pad(toks.toFixed(0), 12),
                       pad(tokens, 10), pad(bytes, 10),
                       pad(secs.toFixed(3), 8)].join(' '));
        console.log(['hf', family, mode, bytes, tokens, secs.toFixed(6),
                     mbs.toFixed(3), toks.toFixed(0)].join('\t'));
    };

    for (const family of o.families) {
        const file = path.join(o.fixtures, family, 'tokenizer.json');
        const t0 = process.hrtime.bigint();
        const tok = Tokenizer.fromFile(file);
        const load = Number(process.hrtime.bigint() - t0) / 1e9;
        console.error([pad(family, 10, 1), pad('load', 13, 1), pad('', 9),
                       pad('', 12), pad('', 10), pad('', 10),
                       pad(load.toFixed(3), 8)].join(' '));

        const [s1, enc] = await bestOf(o.repeat,
                                       () => tok.encode(text, null, opts));
        const ids = enc.getIds();
        report(family, 'encode', raw.length, ids.length, s1);

        const [s2, n2] = await bestOf(o.repeat, async () => {
            let n = 0;
            for (const line of lines) {
                n += (await tok.encode(line, null, opts)).getLength();
            }
            return n;
        });
        report(family, 'encode-lines', raw.length, n2, s2);

        const [s3, out] = await bestOf(o.repeat,
                                       () => tok.decode(ids, false));
        report(family, 'decode', Buffer.byteLength(out, 'utf8'), ids.length,
               s3);
    }
}

main();
