/*
 * markdown.js -- the chat page's Markdown renderer: model answers to DOM
 * nodes, never to HTML strings.  Every piece of text becomes a text node
 * (document.createTextNode), so nothing a model or a user writes can add
 * an element, an attribute or a script; links are made only for http:,
 * https: and mailto: addresses.
 *
 * What it knows (CommonMark / GitHub's, the parts chat answers use):
 * paragraphs (a single newline is a line break, as chat readers expect),
 * ATX headings, block quotes, bullet and numbered lists (nested by
 * indentation), fenced code blocks (``` or ~~~, an info word as the
 * language; an unclosed fence runs to the end, so a half-streamed block
 * shows as code), tables with a delimiter row (alignment :--, :-:, --:),
 * thematic breaks, and inline: code spans, **strong**, *emphasis* (also
 * with _), ~~strikethrough~~, [links](url), <autolinks> and bare
 * http(s) addresses, backslash escapes.
 *
 *   lmdMarkdown.render(text)  -> a DocumentFragment
 */

(function (global) {
    "use strict";

    const FENCE = /^ {0,3}(`{3,}|~{3,})\s*([^`\s]*)[^`]*$/;
    const HEADING = /^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$/;
    const RULE = /^ {0,3}(?:(?:-[ \t]*){3,}|(?:\*[ \t]*){3,}|(?:_[ \t]*){3,})$/;
    const QUOTE = /^ {0,3}> ?(.*)$/;
    const ITEM = /^( *)([-*+]|\d{1,9}[.)])[ \t]+(.*)$/;
    const TABLE_SEP = /^ *\|? *:?-+:? *(?:\| *:?-+:? *)*\|? *$/;

    function el(tag, cls) {
        const e = document.createElement(tag);
        if (cls) {
            e.className = cls;
        }
        return e;
    }

    /* ------------------------------------------------------- inline */

    /* Links only to addresses a chat reader expects; anything else
     * (javascript:, data:, relative paths) stays text. */
    function safeUrl(url) {
        const u = url.trim();
        return /^(https?:\/\/|mailto:)/i.test(u) && !/[\s<>"]/.test(u)
            ? u : null;
    }

    function link(parent, text, url) {
        const a = el("a");
        a.href = url;
        a.rel = "noopener noreferrer nofollow";
        a.target = "_blank";
        inline(a, text);
        parent.appendChild(a);
    }

    /* The delimiter runs (** __ * _ ~~) that open and close around
     * text, CommonMark-style in spirit: an opener is followed by a
     * non-space, a closer preceded by one; _ does not work inside words. */
    function findClose(s, from, mark) {
        let i = from;
        while ((i = s.indexOf(mark, i)) !== -1) {
            if (i > from && !/\s/.test(s[i - 1])
                && !(mark[0] === "_" && /\w/.test(s[i + mark.length] || ""))
                && !(mark.length === 1 && s[i + 1] === mark[0]))
            {
                return i;
            }
            i += mark.length;
        }
        return -1;
    }

    /* Appends the inline content of s to parent. */
    function inline(parent, s) {
        let buf = "";
        const flush = () => {
            if (buf) {
                parent.appendChild(document.createTextNode(buf));
                buf = "";
            }
        };

        for (let i = 0; i < s.length;) {
            const c = s[i], rest = s.slice(i);
            let m;

            if (c === "\\" && i + 1 < s.length
                && /[!-\/:-@\[-`{-~]/.test(s[i + 1]))
            {
                buf += s[i + 1];
                i += 2;
                continue;
            }
            if (c === "`") {
                const run = /^`+/.exec(rest)[0];
                const end = s.indexOf(run, i + run.length);
                if (end !== -1) {
                    flush();
                    const code = el("code");
                    let t = s.slice(i + run.length, end);
                    if (/^ .* $/.test(t)) {
                        t = t.slice(1, -1);
                    }
                    code.textContent = t;
                    parent.appendChild(code);
                    i = end + run.length;
                    continue;
                }
                buf += run;
                i += run.length;
                continue;
            }
            if (c === "[" && (m = /^\[([^\]]*)\]\(\s*<?([^()\s<>]*)>?(?:\s+"[^"]*")?\s*\)/.exec(rest))) {
                const url = safeUrl(m[2]);
                if (url) {
                    flush();
                    link(parent, m[1], url);
                } else {
                    buf += m[1];
                }
                i += m[0].length;
                continue;
            }
            if (c === "<" && (m = /^<((?:https?:\/\/|mailto:)[^\s<>]+)>/i.exec(rest))) {
                flush();
                link(parent, m[1], m[1]);
                i += m[0].length;
                continue;
            }
            if ((c === "h" || c === "H")
                && (i === 0 || /[\s(]/.test(s[i - 1]))
                && (m = /^https?:\/\/[^\s<>"'`]+/i.exec(rest)))
            {
                let url = m[0].replace(/[.,:;!?)\]]+$/, "");
                flush();
                link(parent, url, url);
                i += url.length;
                continue;
            }
            if (c === "*" || c === "_" || c === "~") {
                const two = s.slice(i, i + 2);
                let mark = null, tag = null;
                if (two === "**" || two === "__") {
                    mark = two;
                    tag = "strong";
                } else if (two === "~~") {
                    mark = two;
                    tag = "del";
                } else if (c !== "~") {
                    mark = c;
                    tag = "em";
                }
                const opens = mark && i + mark.length < s.length
                    && !/\s/.test(s[i + mark.length])
                    && !(c === "_" && i > 0 && /\w/.test(s[i - 1]));
                const end = opens ? findClose(s, i + mark.length, mark) : -1;
                if (end !== -1) {
                    flush();
                    const e = el(tag);
                    inline(e, s.slice(i + mark.length, end));
                    parent.appendChild(e);
                    i = end + mark.length;
                    continue;
                }
                buf += mark || c;
                i += (mark || c).length;
                continue;
            }
            buf += c;
            i++;
        }
        flush();
    }

    /* Inline content with single newlines as line breaks. */
    function inlineLines(parent, lines) {
        lines.forEach((l, k) => {
            if (k > 0) {
                parent.appendChild(el("br"));
            }
            inline(parent, l.replace(/^\s+/, "").replace(/\s+$/, ""));
        });
    }

    /* --------------------------------------------------------- blocks */

    function splitRow(line) {
        let s = line.trim();
        if (s.startsWith("|")) {
            s = s.slice(1);
        }
        if (s.endsWith("|") && !s.endsWith("\\|")) {
            s = s.slice(0, -1);
        }
        const cells = [];
        let cur = "";
        for (let i = 0; i < s.length; i++) {
            if (s[i] === "\\" && s[i + 1] === "|") {
                cur += "|";
                i++;
            } else if (s[i] === "|") {
                cells.push(cur.trim());
                cur = "";
            } else {
                cur += s[i];
            }
        }
        cells.push(cur.trim());
        return cells;
    }

    function table(lines) {
        const head = splitRow(lines[0]);
        const aligns = splitRow(lines[1]).map((c) =>
            /^:-+:$/.test(c) ? "center" : /^-+:$/.test(c) ? "right"
            : /^:-+$/.test(c) ? "left" : "");
        const wrap = el("div", "table-wrap");
        const t = el("table");
        const thead = el("thead"), tbody = el("tbody");
        const row = (cells, tag, parent) => {
            const tr = el("tr");
            for (let k = 0; k < head.length; k++) {
                const td = el(tag);
                if (aligns[k]) {
                    td.style.textAlign = aligns[k];
                }
                inline(td, cells[k] || "");
                tr.appendChild(td);
            }
            parent.appendChild(tr);
        };
        row(head, "th", thead);
        for (let k = 2; k < lines.length; k++) {
            row(splitRow(lines[k]), "td", tbody);
        }
        t.appendChild(thead);
        if (lines.length > 2) {
            t.appendChild(tbody);
        }
        wrap.appendChild(t);
        return wrap;
    }

    function isTableStart(lines, i) {
        return i + 1 < lines.length && lines[i].includes("|")
            && TABLE_SEP.test(lines[i + 1]) && lines[i + 1].includes("-")
            && splitRow(lines[i]).length === splitRow(lines[i + 1]).length;
    }

    /* Does line start a block other than a paragraph (so it ends one)? */
    function startsBlock(lines, i) {
        const l = lines[i];
        return FENCE.test(l) || HEADING.test(l) || RULE.test(l)
            || QUOTE.test(l) || ITEM.test(l) || isTableStart(lines, i);
    }

    /* A list starting at lines[i]; returns [element, next line]. */
    function list(lines, i) {
        const first = ITEM.exec(lines[i]);
        const indent = first[1].length;
        const ordered = /\d/.test(first[2]);
        const root = el(ordered ? "ol" : "ul");
        if (ordered && parseInt(first[2], 10) !== 1) {
            root.start = parseInt(first[2], 10);
        }
        let li = null, body = [];
        const close = () => {
            if (li) {
                li.appendChild(blocks(body));
                root.appendChild(li);
            }
        };
        while (i < lines.length) {
            const l = lines[i];
            const m = ITEM.exec(l);
            if (m && m[1].length === indent
                && /\d/.test(m[2]) === ordered)
            {
                close();
                li = el("li");
                body = [m[3]];
                i++;
                continue;
            }
            if (/^\s*$/.test(l)) {
                /* a blank line ends the list unless an indented line or
                 * another item follows */
                const n = lines[i + 1];
                if (n === undefined || !(/^\s{2,}\S/.test(n)
                    || (ITEM.test(n) && ITEM.exec(n)[1].length >= indent)))
                {
                    break;
                }
                body.push("");
                i++;
                continue;
            }
            const lead = /^ */.exec(l)[0].length;
            if (lead > indent) {
                body.push(l.slice(Math.min(lead, indent + 2)));
                i++;
                continue;
            }
            if (m || startsBlock(lines, i)) {
                break;
            }
            body.push(l.trim());       /* lazy continuation */
            i++;
        }
        close();
        return [root, i];
    }

    /* The blocks of lines, as a fragment. */
    function blocks(lines) {
        const out = document.createDocumentFragment();
        let i = 0;

        while (i < lines.length) {
            const l = lines[i];
            let m;

            if (/^\s*$/.test(l)) {
                i++;
                continue;
            }
            if ((m = FENCE.exec(l))) {
                const fence = m[1];
                const pre = el("pre"), code = el("code");
                const body = [];
                if (m[2]) {
                    code.className = "language-"
                        + m[2].replace(/[^\w+#.-]/g, "");
                    code.dataset.lang = m[2];
                }
                i++;
                while (i < lines.length) {
                    const c = lines[i];
                    if (c.trim().startsWith(fence[0].repeat(fence.length))
                        && /^ {0,3}[`~]+\s*$/.test(c))
                    {
                        i++;
                        break;
                    }
                    body.push(c);
                    i++;
                }
                code.textContent = body.join("\n");
                pre.appendChild(code);
                out.appendChild(pre);
                continue;
            }
            if ((m = HEADING.exec(l))) {
                const h = el("h" + m[1].length);
                inline(h, m[2] || "");
                out.appendChild(h);
                i++;
                continue;
            }
            if (RULE.test(l)) {
                out.appendChild(el("hr"));
                i++;
                continue;
            }
            if (QUOTE.test(l)) {
                const body = [];
                while (i < lines.length && (m = QUOTE.exec(lines[i]))) {
                    body.push(m[1]);
                    i++;
                }
                const q = el("blockquote");
                q.appendChild(blocks(body));
                out.appendChild(q);
                continue;
            }
            if (ITEM.test(l)) {
                const r = list(lines, i);
                out.appendChild(r[0]);
                i = r[1];
                continue;
            }
            if (isTableStart(lines, i)) {
                const body = [lines[i], lines[i + 1]];
                i += 2;
                while (i < lines.length && lines[i].includes("|")
                       && !/^\s*$/.test(lines[i]))
                {
                    body.push(lines[i]);
                    i++;
                }
                out.appendChild(table(body));
                continue;
            }
            const para = [l];
            i++;
            while (i < lines.length && !/^\s*$/.test(lines[i])
                   && !startsBlock(lines, i))
            {
                para.push(lines[i]);
                i++;
            }
            const p = el("p");
            inlineLines(p, para);
            out.appendChild(p);
        }
        return out;
    }

    function render(text) {
        return blocks(String(text).replace(/\r\n?/g, "\n").split("\n"));
    }

    global.lmdMarkdown = { render: render };
})(window);
