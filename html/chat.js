/*
 * chat.js -- lmd's web chat: talks to the daemon it is served by, with
 * nothing from anywhere else (no CDN, no build step).
 *
 *   state     the chats (localStorage "lmd.chats"), the open chat, the
 *             settings ("lmd.settings") and the API key ("lmd.apiKey");
 *   requests  /v1/models for the picker; /v1/chat/completions streamed
 *             (fetch + a ReadableStream reader parsing server-sent
 *             events), aborted by Stop, which makes the daemon cancel the
 *             generation;
 *   view      the conversation (answers through markdown.js, which makes
 *             DOM nodes, never HTML), the list of past chats, the
 *             settings, what the server says of the picked model (its
 *             /v1/models description), errors as readable sentences.
 *
 * Every model or user text reaches the page as textContent or through
 * lmdMarkdown.render; the page sets no innerHTML.
 */

(function () {
    "use strict";

    const $ = (id) => document.getElementById(id);
    const KEY_CHATS = "lmd.chats", KEY_SETTINGS = "lmd.settings";
    const KEY_APIKEY = "lmd.apiKey", KEY_CURRENT = "lmd.current";
    const MAX_CHATS = 100;
    const DEFAULTS = {
        model: "", system: "", temperature: 0.7, top_p: 1,
        max_tokens: 512, seed: "",
    };

    const ui = {
        app: $("app"), sidebar: $("sidebar"), chatList: $("chat-list"),
        newChat: $("new-chat"), toggleSidebar: $("toggle-sidebar"),
        model: $("model"), modelNote: $("model-note"),
        toggleSettings: $("toggle-settings"),
        settings: $("settings"), system: $("system"),
        temperature: $("temperature"), topP: $("top-p"),
        maxTokens: $("max-tokens"), seed: $("seed"), apiKey: $("api-key"),
        messages: $("messages"), empty: $("empty"), error: $("error"),
        composer: $("composer"), input: $("input"), send: $("send"),
        stop: $("stop"), status: $("status"),
    };

    /* ------------------------------------------------------ storage */

    function load(key, fallback) {
        try {
            const v = JSON.parse(localStorage.getItem(key));
            return v === null ? fallback : v;
        } catch (e) {
            return fallback;
        }
    }

    function save(key, value) {
        try {
            localStorage.setItem(key, JSON.stringify(value));
        } catch (e) {
            /* storage full or off: the page still works, unsaved */
        }
    }

    const state = {
        chats: load(KEY_CHATS, []).filter((c) => c && Array.isArray(
            c.messages)),
        current: null,
        settings: Object.assign({}, DEFAULTS, load(KEY_SETTINGS, {})),
        apiKey: load(KEY_APIKEY, ""),
        busy: null,             /* {controller, chat, msg} while answering */
    };

    function saveChats() {
        state.chats.sort((a, b) => b.updated - a.updated);
        state.chats = state.chats.slice(0, MAX_CHATS);
        save(KEY_CHATS, state.chats.filter((c) => c.messages.length > 0));
    }

    function newId() {
        return Date.now().toString(36) + Math.random().toString(36).slice(2,
            8);
    }

    function currentChat() {
        let c = state.chats.find((x) => x.id === state.current);
        if (!c) {
            c = { id: newId(), title: "", messages: [], updated: Date.now() };
            state.chats.push(c);
            state.current = c.id;
        }
        return c;
    }

    /* ------------------------------------------------------- errors */

    function showError(text) {
        ui.error.textContent = text;
        ui.error.hidden = !text;
    }

    /* A readable sentence for a failed request: the status says what
     * kind of trouble it is, the server's OpenAI error message what
     * exactly. */
    function describe(status, body) {
        let msg = "";
        try {
            const j = JSON.parse(body);
            msg = j && j.error && j.error.message ? String(j.error.message)
                : "";
        } catch (e) {
            msg = "";
        }
        const tail = msg ? " (" + msg + ")" : "";
        if (status === 401 || status === 403) {
            return "The server needs a valid API key: enter it under "
                + "Settings." + tail;
        }
        if (status === 429) {
            return "The server is busy: too many requests at once. Try "
                + "again in a moment." + tail;
        }
        if (status === 404) {
            return "The server does not know this model or address." + tail;
        }
        if (status >= 500) {
            return "The server failed (" + status + "). Try again." + tail;
        }
        return "The request was refused (" + status + ")." + tail;
    }

    const LOST = "Lost the connection to the server. Check that lmd is "
        + "running, then try again.";

    /* ------------------------------------------------------ requests */

    function headers() {
        const h = { "Content-Type": "application/json" };
        if (state.apiKey) {
            h.Authorization = "Bearer " + state.apiKey;
        }
        return h;
    }

    async function loadModels() {
        let r;
        try {
            r = await fetch("/v1/models", { headers: headers() });
        } catch (e) {
            showError(LOST);
            return;
        }
        if (!r.ok) {
            showError(describe(r.status, await r.text()));
            return;
        }
        const j = await r.json();
        const ids = (j.data || []).map((m) => String(m.id));
        state.notes = {};
        for (const m of j.data || []) {
            if (typeof m.description === "string" && m.description) {
                state.notes[String(m.id)] = m.description;
            }
        }
        ui.model.replaceChildren(...ids.map((id) => {
            const o = document.createElement("option");
            o.value = id;
            o.textContent = id;
            return o;
        }));
        if (ids.includes(state.settings.model)) {
            ui.model.value = state.settings.model;
        } else if (ids.length > 0) {
            state.settings.model = ids[0];
        }
        showModelNote();
        if (ids.length === 0) {
            showError("The server has no model loaded.");
        } else if (ui.error.dataset.kind !== "answer") {
            showError("");
        }
    }

    /* What the server says of the picked model (the demo model: that its
     * answers are gibberish), under the top bar. */
    function showModelNote() {
        const note = (state.notes || {})[ui.model.value] || "";
        ui.modelNote.textContent = note ? ui.model.value + ": " + note : "";
        ui.modelNote.hidden = !note;
    }

    /* The request body from the settings and the chat so far. */
    function body(chat) {
        const s = state.settings;
        const messages = [];
        if (s.system.trim()) {
            messages.push({ role: "system", content: s.system });
        }
        for (const m of chat.messages) {
            if (m.role === "user" || (m.role === "assistant" && m.done)) {
                messages.push({ role: m.role, content: m.content });
            }
        }
        const b = {
            model: ui.model.value || s.model, messages: messages,
            stream: true, stream_options: { include_usage: true },
        };
        const num = (v) => v !== "" && v !== null && isFinite(Number(v));
        if (num(s.temperature)) {
            b.temperature = Number(s.temperature);
        }
        if (num(s.top_p)) {
            b.top_p = Number(s.top_p);
        }
        if (num(s.max_tokens) && Number(s.max_tokens) > 0) {
            b.max_tokens = Math.floor(Number(s.max_tokens));
        }
        if (num(s.seed)) {
            b.seed = Math.floor(Number(s.seed));
        }
        return b;
    }

    /* Server-sent events from a fetch body: calls onData(text) for each
     * event's data; returns when the stream ends. */
    async function readEvents(response, onData) {
        const reader = response.body.getReader();
        const dec = new TextDecoder();
        let buf = "";
        for (;;) {
            const { value, done } = await reader.read();
            if (done) {
                break;
            }
            buf += dec.decode(value, { stream: true }).replace(/\r\n?/g,
                "\n");
            let i;
            while ((i = buf.indexOf("\n\n")) >= 0) {
                const block = buf.slice(0, i);
                buf = buf.slice(i + 2);
                const data = block.split("\n")
                    .filter((l) => l.startsWith("data:"))
                    .map((l) => l.slice(l.startsWith("data: ") ? 6 : 5));
                if (data.length > 0 && onData(data.join("\n")) === false) {
                    return;
                }
            }
        }
    }

    /* Streams the answer to the chat's last user message into a new
     * assistant message. */
    async function answer(chat) {
        const msg = { role: "assistant", content: "", done: false };
        const controller = new AbortController();
        const t0 = performance.now();
        let tFirst = 0, tokens = 0, usage = null, finish = null;

        chat.messages.push(msg);
        state.busy = { controller: controller, chat: chat, msg: msg };
        showError("");
        ui.error.dataset.kind = "";
        setBusy(true);
        renderMessages();

        const req = body(chat);
        let error = null;
        try {
            const r = await fetch("/v1/chat/completions", {
                method: "POST", headers: headers(),
                body: JSON.stringify(req), signal: controller.signal,
            });
            if (!r.ok) {
                error = describe(r.status, await r.text());
            } else {
                await readEvents(r, (data) => {
                    if (data === "[DONE]") {
                        return false;
                    }
                    let j;
                    try {
                        j = JSON.parse(data);
                    } catch (e) {
                        return true;
                    }
                    if (j.error) {
                        error = describe(500, JSON.stringify(j));
                        return false;
                    }
                    if (j.usage) {
                        usage = j.usage;
                    }
                    const ch = j.choices && j.choices[0];
                    if (ch && ch.delta && typeof ch.delta.content
                        === "string" && ch.delta.content !== "")
                    {
                        if (!tFirst) {
                            tFirst = performance.now();
                        }
                        tokens++;
                        msg.content += ch.delta.content;
                        scheduleUpdate(msg);
                    }
                    if (ch && ch.finish_reason) {
                        finish = ch.finish_reason;
                    }
                    return true;
                });
            }
        } catch (e) {
            if (e && e.name === "AbortError") {
                msg.stopped = true;
            } else {
                error = LOST;
            }
        }

        const tEnd = performance.now();
        const n = usage && usage.completion_tokens ? usage.completion_tokens
            : tokens;
        msg.done = true;
        /* tokens/s after the first token; an answer that came in one
         * read (faster than the page could tell apart) is timed from
         * the request instead */
        const span = tEnd - tFirst > 5 ? [n - 1, tEnd - tFirst]
            : [n, tEnd - t0];
        msg.stats = {
            ttft: tFirst ? (tFirst - t0) / 1000 : null,
            tps: tFirst && span[0] > 0 && span[1] > 0
                ? span[0] / (span[1] / 1000) : null,
            tokens: n, finish: msg.stopped ? "stopped" : finish,
        };
        if (error && msg.content === "") {
            chat.messages.pop();        /* nothing came: no empty answer */
        } else if (error) {
            msg.stats.finish = "error";
        }
        state.busy = null;
        chat.updated = Date.now();
        saveChats();
        setBusy(false);
        renderMessages();
        renderChatList();
        if (error) {
            showError(error);
            ui.error.dataset.kind = "answer";
        }
        ui.input.focus();
    }

    /* --------------------------------------------------------- view */

    let pending = null;

    /* Re-renders the streaming answer at most once a frame. */
    function scheduleUpdate(msg) {
        if (pending) {
            return;
        }
        pending = requestAnimationFrame(() => {
            pending = null;
            const node = ui.messages.querySelector(".msg.streaming .text");
            if (node) {
                node.replaceChildren(lmdMarkdown.render(msg.content));
                if (nearBottom) {
                    ui.messages.scrollTop = ui.messages.scrollHeight;
                }
            }
        });
    }

    let nearBottom = true;

    function setBusy(busy) {
        ui.send.hidden = busy;
        ui.stop.hidden = !busy;
        ui.app.dataset.state = busy ? "answering" : "idle";
        ui.status.textContent = busy ? "Answering…" : "";
    }

    function button(label, title, onClick) {
        const b = document.createElement("button");
        b.type = "button";
        b.className = "action";
        b.textContent = label;
        b.title = title;
        b.setAttribute("aria-label", title);
        b.addEventListener("click", onClick);
        return b;
    }

    async function copy(text, b) {
        let done = false;
        try {
            await navigator.clipboard.writeText(text);
            done = true;
        } catch (e) {
            /* no clipboard permission (plain http, some browsers) */
            const t = document.createElement("textarea");
            t.value = text;
            t.setAttribute("readonly", "");
            t.style.position = "fixed";
            t.style.opacity = "0";
            document.body.appendChild(t);
            t.select();
            try {
                done = document.execCommand("copy");
            } catch (e2) {
                done = false;
            }
            t.remove();
        }
        const old = b.textContent;
        b.textContent = done ? "Copied" : "Copy failed";
        setTimeout(() => {
            b.textContent = old;
        }, 1200);
    }

    function statsLine(st) {
        const parts = [];
        if (st.ttft !== null && st.ttft !== undefined) {
            parts.push("first token " + st.ttft.toFixed(2) + " s");
        }
        if (st.tps) {
            parts.push(st.tps.toFixed(1) + " tokens/s");
        }
        if (st.tokens) {
            parts.push(st.tokens + " tokens");
        }
        if (st.finish === "stopped") {
            parts.push("stopped");
        } else if (st.finish === "length") {
            parts.push("cut at max tokens");
        } else if (st.finish === "error") {
            parts.push("interrupted");
        }
        return parts.join(" · ");
    }

    function editMessage(chat, index, node) {
        const m = chat.messages[index];
        const area = document.createElement("textarea");
        area.value = m.content;
        area.className = "edit";
        area.setAttribute("aria-label", "Edit message");
        area.rows = Math.min(10, m.content.split("\n").length + 1);
        const ok = document.createElement("button");
        ok.type = "button";
        ok.textContent = "Save & send";
        ok.className = "primary";
        const cancel = document.createElement("button");
        cancel.type = "button";
        cancel.textContent = "Cancel";
        const bar = document.createElement("div");
        bar.className = "edit-bar";
        bar.append(ok, cancel);
        node.replaceChildren(area, bar);
        area.focus();
        const submit = () => {
            const text = area.value.trim();
            if (!text || state.busy) {
                return;
            }
            m.content = text;
            chat.messages.length = index + 1;     /* drop what followed */
            answer(chat);
        };
        ok.addEventListener("click", submit);
        cancel.addEventListener("click", renderMessages);
        area.addEventListener("keydown", (e) => {
            if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
                e.preventDefault();
                submit();
            } else if (e.key === "Escape") {
                renderMessages();
            }
        });
    }

    function renderMessages() {
        const chat = state.chats.find((c) => c.id === state.current);
        const msgs = chat ? chat.messages : [];
        const lastAssistant = msgs.length > 0
            && msgs[msgs.length - 1].role === "assistant"
            ? msgs.length - 1 : -1;

        ui.messages.replaceChildren(...msgs.map((m, i) => {
            const node = document.createElement("article");
            node.className = "msg " + (m.role === "user" ? "user"
                : "assistant");
            node.setAttribute("aria-label", m.role === "user" ? "You"
                : "Assistant");
            if (!m.done && m.role === "assistant") {
                node.classList.add("streaming");
            }
            const who = document.createElement("div");
            who.className = "who";
            who.textContent = m.role === "user" ? "You" : "Assistant";
            const text = document.createElement("div");
            text.className = "text";
            if (m.role === "user") {
                text.textContent = m.content;
            } else {
                text.replaceChildren(lmdMarkdown.render(m.content));
            }
            node.append(who, text);
            if (m.role === "assistant" && m.stats) {
                const st = document.createElement("div");
                st.className = "stats";
                st.textContent = statsLine(m.stats);
                node.appendChild(st);
            }
            if (m.done !== false || m.role === "user") {
                const bar = document.createElement("div");
                bar.className = "actions";
                bar.appendChild(button("Copy", "Copy this message",
                    (e) => copy(m.content, e.currentTarget)));
                if (m.role === "user" && !state.busy) {
                    bar.appendChild(button("Edit", "Edit and resend",
                        () => editMessage(chat, i, text)));
                }
                if (i === lastAssistant && !state.busy) {
                    bar.appendChild(button("Regenerate",
                        "Regenerate this answer", () => {
                            chat.messages.pop();
                            answer(chat);
                        }));
                }
                node.appendChild(bar);
            }
            return node;
        }));
        ui.empty.hidden = msgs.length > 0;
        ui.messages.scrollTop = ui.messages.scrollHeight;
    }

    function renderChatList() {
        const chats = state.chats.filter((c) => c.messages.length > 0)
            .sort((a, b) => b.updated - a.updated);
        ui.chatList.replaceChildren(...chats.map((c) => {
            const li = document.createElement("li");
            const open = document.createElement("button");
            open.type = "button";
            open.className = "open";
            open.textContent = c.title || "Untitled chat";
            if (c.id === state.current) {
                open.setAttribute("aria-current", "true");
            }
            open.addEventListener("click", () => {
                if (state.busy) {
                    return;
                }
                state.current = c.id;
                save(KEY_CURRENT, c.id);
                showError("");
                renderMessages();
                renderChatList();
                closeSidebarOnPhone();
            });
            const del = button("✕", "Delete chat: " + (c.title
                || "Untitled chat"), () => {
                if (state.busy && state.busy.chat === c) {
                    return;
                }
                state.chats = state.chats.filter((x) => x !== c);
                saveChats();
                if (state.current === c.id) {
                    state.current = null;
                }
                renderMessages();
                renderChatList();
            });
            del.classList.add("delete");
            li.append(open, del);
            return li;
        }));
    }

    function closeSidebarOnPhone() {
        if (window.matchMedia("(max-width: 720px)").matches) {
            ui.app.classList.remove("sidebar-open");
            ui.toggleSidebar.setAttribute("aria-expanded", "false");
        }
    }

    /* ------------------------------------------------------ actions */

    function sendInput() {
        const text = ui.input.value.trim();
        if (!text || state.busy) {
            return;
        }
        if (!ui.model.value) {
            showError(ui.error.textContent
                || "No model to talk to: the model list did not load.");
            return;
        }
        const chat = currentChat();
        if (!chat.title) {
            chat.title = text.split("\n")[0].slice(0, 60);
        }
        chat.messages.push({ role: "user", content: text, done: true });
        chat.updated = Date.now();
        save(KEY_CURRENT, chat.id);
        ui.input.value = "";
        renderChatList();
        answer(chat);
    }

    function bindSettings() {
        const s = state.settings;
        ui.system.value = s.system;
        ui.temperature.value = s.temperature;
        ui.topP.value = s.top_p;
        ui.maxTokens.value = s.max_tokens;
        ui.seed.value = s.seed;
        ui.apiKey.value = state.apiKey;
        const fields = [
            [ui.system, "system"], [ui.temperature, "temperature"],
            [ui.topP, "top_p"], [ui.maxTokens, "max_tokens"],
            [ui.seed, "seed"],
        ];
        for (const [input, key] of fields) {
            input.addEventListener("input", () => {
                s[key] = input.value;
                save(KEY_SETTINGS, s);
            });
        }
        ui.model.addEventListener("change", () => {
            s.model = ui.model.value;
            save(KEY_SETTINGS, s);
            showModelNote();
        });
        ui.apiKey.addEventListener("change", () => {
            state.apiKey = ui.apiKey.value.trim();
            save(KEY_APIKEY, state.apiKey);
            loadModels();
        });
    }

    function toggle(buttonEl, show) {
        buttonEl.setAttribute("aria-expanded", show ? "true" : "false");
    }

    function init() {
        state.current = load(KEY_CURRENT, null);
        if (!state.chats.some((c) => c.id === state.current)) {
            state.current = null;
        }
        bindSettings();

        ui.composer.addEventListener("submit", (e) => {
            e.preventDefault();
            sendInput();
        });
        ui.input.addEventListener("keydown", (e) => {
            if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
                e.preventDefault();
                sendInput();
            }
        });
        ui.stop.addEventListener("click", () => {
            if (state.busy) {
                state.busy.controller.abort();
            }
        });
        document.addEventListener("keydown", (e) => {
            if (e.key === "Escape" && state.busy) {
                state.busy.controller.abort();
            }
        });
        ui.newChat.addEventListener("click", () => {
            if (state.busy) {
                return;
            }
            state.current = null;
            save(KEY_CURRENT, null);
            showError("");
            renderMessages();
            renderChatList();
            closeSidebarOnPhone();
            ui.input.focus();
        });
        ui.toggleSettings.addEventListener("click", () => {
            ui.settings.hidden = !ui.settings.hidden;
            toggle(ui.toggleSettings, !ui.settings.hidden);
        });
        ui.toggleSidebar.addEventListener("click", () => {
            const open = ui.app.classList.toggle("sidebar-open");
            toggle(ui.toggleSidebar, open);
        });
        ui.messages.addEventListener("scroll", () => {
            const m = ui.messages;
            nearBottom = m.scrollHeight - m.scrollTop - m.clientHeight < 40;
        });

        renderMessages();
        renderChatList();
        setBusy(false);
        loadModels();
        ui.input.focus();
    }

    init();
})();
