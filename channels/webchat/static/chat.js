/* Citizen web chat. Vanilla JS, no build step, no external requests.
 *
 * Invariants:
 * - Citizen, bot and agent text is only ever inserted with textContent, never as HTML.
 * - Each citizen message gets one message_id, kept across resends (WebSocket reconnects, HTTP
 *   retries, page reloads), so the server can de-duplicate; messages are sent one at a time, in order.
 * - Messages from the server carry a seq; a seq is rendered once.
 */
(function () {
  "use strict";

  var MAX_CHARS = 2000;
  var POLL_MS = 3000;
  var REPLY_TIMEOUT_MS = 45000; // no frame at all for this long while a message is in flight: reconnect
  var OPEN_TIMEOUT_MS = 10000;
  var WS_ATTEMPTS_BEFORE_HTTP = 3; // consecutive connections that never delivered a frame
  var WS_RETRY_FROM_HTTP_MS = 30000;
  var TYPING_TIMEOUT_MS = 20000;
  var KEY_LOCALE = "petition.webchat.locale";
  var KEY_CONVERSATION = "petition.webchat.conversation";
  var KEY_OUTBOX = "petition.webchat.outbox";
  var UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

  var STRINGS = {
    "zh-CN": {
      doc_title: "信访在线受理 · Online petition",
      title: "信访在线受理",
      title_alt: "Online petition",
      lang_label: "Switch to English（切换到英文）",
      new_conversation: "新对话",
      connecting: "连接中…",
      reconnecting: "连接已断开，正在重新连接…",
      http_mode: "实时连接不可用，已切换为普通模式",
      offline: "网络连接中断，恢复后将自动发送",
      typing: "对方正在输入…",
      placeholder: "请输入您要反映的问题…",
      input_label: "输入消息",
      send: "发送",
      privacy: "您提供的个人信息仅用于办理本信访事项，依法予以保密。请勿在此输入银行卡密码等与诉求无关的敏感信息。",
      intro: "您好！请直接描述您遇到的问题，我会一步步帮您登记；也可以发送“查询 + 受理编号”查询办理进度。",
      urgent: "紧急情况请拨打 110（报警）、119（火警）、120（急救）。",
      messages_label: "对话记录",
      quick_label: "快捷回复",
      agent: "工作人员",
      bot: "智能助手",
      me: "我",
      retry: "重试",
      not_sent: "未发送",
      error: "出错了：",
    },
    en: {
      doc_title: "Online petition · 信访在线受理",
      title: "Online petition",
      title_alt: "信访在线受理",
      lang_label: "切换到中文 (Switch to Chinese)",
      new_conversation: "New conversation",
      connecting: "Connecting…",
      reconnecting: "Connection lost, reconnecting…",
      http_mode: "Live connection unavailable; using basic mode",
      offline: "You are offline; messages will be sent when the connection is back",
      typing: "Typing…",
      placeholder: "Describe your problem…",
      input_label: "Message",
      send: "Send",
      privacy: "Your personal information is used only to handle this petition and is kept confidential by law. " +
        "Do not enter bank passwords or other sensitive data unrelated to your request.",
      intro: "Hello! Describe your problem and I will help you file it step by step, or send \u201cstatus\u201d " +
        "with your tracking number to check its progress.",
      urgent: "In an emergency call 110 (police), 119 (fire) or 120 (ambulance).",
      messages_label: "Conversation",
      quick_label: "Quick replies",
      agent: "Agent",
      bot: "Assistant",
      me: "Me",
      retry: "Retry",
      not_sent: "Not sent",
      error: "Error: ",
    },
  };

  // ---- storage (localStorage may be unavailable, e.g. in some private modes) -------------------

  var memoryStore = {};
  var store = {
    get: function (key) {
      try { return window.localStorage.getItem(key); } catch (e) { return key in memoryStore ? memoryStore[key] : null; }
    },
    set: function (key, value) {
      try { window.localStorage.setItem(key, value); } catch (e) { memoryStore[key] = value; }
    },
    remove: function (key) {
      try { window.localStorage.removeItem(key); } catch (e) { /* ignore */ }
      delete memoryStore[key];
    },
  };

  function uuid() {
    var c = window.crypto;
    // randomUUID exists only in secure contexts (https, localhost); getRandomValues everywhere.
    if (c && typeof c.randomUUID === "function") {
      try { return c.randomUUID(); } catch (e) { /* fall through */ }
    }
    var b = new Uint8Array(16);
    if (c && typeof c.getRandomValues === "function") {
      c.getRandomValues(b);
    } else {
      for (var i = 0; i < 16; i++) b[i] = Math.floor(Math.random() * 256);
    }
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    var h = Array.prototype.map.call(b, function (x) { return (x + 0x100).toString(16).slice(1); }).join("");
    return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
  }

  function normaliseLocale(value) {
    return value && String(value).toLowerCase().indexOf("en") === 0 ? "en" : "zh-CN";
  }

  function conversationIdFromStore() {
    var id = store.get(KEY_CONVERSATION);
    if (!id || !UUID_RE.test(id)) {
      id = uuid();
      store.set(KEY_CONVERSATION, id);
    }
    return id;
  }

  // ---- state -------------------------------------------------------------------------------------

  var state = {
    locale: normaliseLocale(store.get(KEY_LOCALE)),
    conversationId: conversationIdFromStore(),
    lastSeq: 0,
    seen: {}, // seq -> true
    outbox: [], // [{mid, text, locale}], oldest first; only the head is ever in flight
    resolved: {}, // message_id -> true once its replies arrived
    inFlight: null, // message_id sent on the current transport and not yet answered
    mode: "ws", // "ws" or "http"
    ws: null,
    wsOpen: false,
    attempts: 0, // consecutive WebSocket connections that delivered no frame
    httpFailures: 0,
    ready: false, // the first history has been rendered
    restored: false,
    statusKey: "connecting",
    statusClass: "",
    timers: {},
  };

  var quickOf = new WeakMap(); // message element -> its quick replies
  var els = {};

  function S(key) {
    return STRINGS[state.locale][key];
  }

  function $(id) {
    return document.getElementById(id);
  }

  function clearTimer(name) {
    if (state.timers[name]) {
      clearTimeout(state.timers[name]);
      state.timers[name] = null;
    }
  }

  function setTimer(name, fn, ms) {
    clearTimer(name);
    state.timers[name] = setTimeout(function () {
      state.timers[name] = null;
      fn();
    }, ms);
  }

  function backoff(n) {
    var base = Math.min(15000, 500 * Math.pow(2, Math.max(0, n - 1)));
    return Math.round(base * (0.75 + Math.random() * 0.5));
  }

  // ---- locale and chrome -------------------------------------------------------------------------

  function applyLocale() {
    document.documentElement.lang = state.locale;
    document.title = S("doc_title");
    document.querySelectorAll("[data-i18n]").forEach(function (el) {
      el.textContent = S(el.getAttribute("data-i18n"));
    });
    document.querySelectorAll("[data-i18n-placeholder]").forEach(function (el) {
      el.setAttribute("placeholder", S(el.getAttribute("data-i18n-placeholder")));
    });
    document.querySelectorAll("[data-i18n-aria-label]").forEach(function (el) {
      el.setAttribute("aria-label", S(el.getAttribute("data-i18n-aria-label")));
    });
    els.langToggle.setAttribute("aria-label", S("lang_label"));
    els.langToggle.querySelectorAll("[data-lang]").forEach(function (el) {
      el.classList.toggle("active", el.getAttribute("data-lang") === state.locale);
    });
    renderStatus();
  }

  function setLocale(locale) {
    state.locale = normaliseLocale(locale);
    store.set(KEY_LOCALE, state.locale);
    applyLocale();
  }

  // Keep the newest message in view while the chrome around the list changes size (longer English
  // footnote, a growing textarea, the on-screen keyboard), unless the citizen scrolled up to read.
  function keepBottomOnResize() {
    var stuck = true;
    els.messages.addEventListener("scroll", function () { stuck = nearBottom(); }, { passive: true });
    if (typeof window.ResizeObserver === "function") {
      new ResizeObserver(function () { if (stuck) scrollToBottom(); }).observe(els.messages);
    }
  }

  function setStatus(key, cls) {
    state.statusKey = key;
    state.statusClass = cls || "";
    renderStatus();
  }

  function renderStatus() {
    var el = els.status;
    if (!state.statusKey) {
      el.hidden = true;
      el.removeAttribute("data-i18n");
      el.textContent = "";
    } else {
      el.hidden = false;
      el.setAttribute("data-i18n", state.statusKey);
      el.textContent = S(state.statusKey);
    }
    el.className = "status" + (state.statusClass ? " " + state.statusClass : "");
    document.body.setAttribute("data-transport", state.mode);
    document.body.setAttribute("data-connected", state.mode === "ws" ? String(state.wsOpen) : "http");
  }

  function showTyping() {
    els.typing.hidden = false;
    setTimer("typing", hideTyping, TYPING_TIMEOUT_MS);
  }

  function hideTyping() {
    clearTimer("typing");
    els.typing.hidden = true;
  }

  function updateCounter() {
    var n = els.input.value.length;
    els.counter.textContent = n + "/" + MAX_CHARS;
    els.counter.classList.toggle("near", n > MAX_CHARS * 0.9 && n <= MAX_CHARS);
    els.counter.classList.toggle("over", n > MAX_CHARS);
    els.send.disabled = !els.input.value.trim() || n > MAX_CHARS;
  }

  function autoGrow() {
    els.input.style.height = "auto";
    els.input.style.height = Math.min(els.input.scrollHeight + 2, 144) + "px";
  }

  function updatePending() {
    els.messages.setAttribute("data-pending", String(state.outbox.length));
  }

  // ---- rendering ---------------------------------------------------------------------------------

  function nearBottom() {
    var m = els.messages;
    return m.scrollHeight - m.scrollTop - m.clientHeight < 80;
  }

  function scrollToBottom() {
    els.messages.scrollTop = els.messages.scrollHeight;
  }

  function pad(n) {
    return (n < 10 ? "0" : "") + n;
  }

  function formatTime(date) {
    var now = new Date();
    var hm = pad(date.getHours()) + ":" + pad(date.getMinutes());
    if (date.toDateString() === now.toDateString()) return hm;
    return pad(date.getMonth() + 1) + "-" + pad(date.getDate()) + " " + hm;
  }

  function roleOf(m) {
    if (m.author === "citizen" || m.author === "agent" || m.author === "bot") return m.author;
    return m.direction === "in" ? "citizen" : "bot";
  }

  function makeMessage(role, text, createdAt) {
    var el = document.createElement("div");
    el.className = "msg " + (role === "citizen" ? "out" : "in") + (role === "agent" ? " agent" : "");
    el.setAttribute("data-role", role);
    var who = document.createElement("span");
    who.setAttribute("data-i18n", role === "citizen" ? "me" : role);
    who.className = role === "agent" ? "author" : "visually-hidden";
    who.textContent = S(role === "citizen" ? "me" : role);
    el.appendChild(who);
    var bubble = document.createElement("div");
    bubble.className = "bubble";
    bubble.textContent = text == null ? "" : String(text); // never innerHTML
    el.appendChild(bubble);
    var date = createdAt ? new Date(createdAt) : new Date();
    if (!isNaN(date.getTime())) {
      var time = document.createElement("time");
      time.className = "meta";
      time.dateTime = date.toISOString();
      time.textContent = formatTime(date);
      el.appendChild(time);
    }
    return el;
  }

  function bubbleText(el) {
    var b = el.querySelector(".bubble");
    return b ? b.textContent : "";
  }

  function noteSeq(el, seq) {
    if (seq == null || isNaN(Number(seq))) return;
    seq = Number(seq);
    el.setAttribute("data-seq", String(seq));
    el.removeAttribute("data-adoptable");
    state.seen[seq] = true;
    if (seq > state.lastSeq) state.lastSeq = seq;
  }

  // An element rendered before the server gave it a seq (an optimistic citizen message, or a reply
  // that came over HTTP) takes the seq of the first stored message with the same author and text.
  function findAdoptable(role, text) {
    var nodes = els.messages.querySelectorAll(".msg[data-adoptable]");
    for (var i = 0; i < nodes.length; i++) {
      if (nodes[i].getAttribute("data-role") === role && bubbleText(nodes[i]) === text) return nodes[i];
    }
    return null;
  }

  function insertBySeq(el, seq) {
    var nodes = els.messages.querySelectorAll(".msg[data-seq]");
    for (var i = 0; i < nodes.length; i++) {
      if (Number(nodes[i].getAttribute("data-seq")) > seq) {
        els.messages.insertBefore(el, nodes[i]);
        return;
      }
    }
    els.messages.appendChild(el);
  }

  function renderStored(messages) {
    var list = (messages || []).slice().sort(function (a, b) { return Number(a.seq) - Number(b.seq); });
    list.forEach(function (m) {
      var seq = m.seq == null ? null : Number(m.seq);
      if (seq != null && state.seen[seq]) return;
      var role = roleOf(m);
      var text = m.text == null ? "" : String(m.text);
      var el = findAdoptable(role, text);
      if (!el) {
        el = makeMessage(role, text, m.created_at);
        if (seq != null) insertBySeq(el, seq); else els.messages.appendChild(el);
      }
      if (m.quick_replies && m.quick_replies.length) quickOf.set(el, m.quick_replies.slice());
      noteSeq(el, seq);
    });
  }

  function insertReplies(mid, replies) {
    var anchor = mid ? elementFor(mid) : null;
    var after = anchor;
    while (after && after.nextElementSibling && after.nextElementSibling.getAttribute("data-reply-to") === mid) {
      after = after.nextElementSibling;
    }
    (replies || []).forEach(function (r) {
      var seq = r.seq == null ? null : Number(r.seq);
      if (seq != null && state.seen[seq]) return;
      var text = r.text == null ? "" : String(r.text);
      // The same reply may already be on screen from the other transport.
      var el = seq != null ? findAdoptable("bot", text) : null;
      if (!el) {
        el = makeMessage("bot", text, r.created_at);
        el.setAttribute("data-reply-to", mid || "");
        if (seq == null) el.setAttribute("data-adoptable", "");
        if (after && after.parentNode) {
          after.parentNode.insertBefore(el, after.nextSibling);
        } else {
          els.messages.appendChild(el);
        }
        after = el;
      }
      if (r.quick_replies && r.quick_replies.length) quickOf.set(el, r.quick_replies.slice());
      noteSeq(el, seq);
    });
  }

  function refreshQuickReplies() {
    els.messages.querySelectorAll(".quick-replies").forEach(function (n) { n.remove(); });
    var msgs = els.messages.querySelectorAll(".msg");
    var last = msgs[msgs.length - 1];
    if (!last || last.getAttribute("data-role") === "citizen") return;
    var quick = quickOf.get(last);
    if (!quick || !quick.length) return;
    var box = document.createElement("div");
    box.className = "quick-replies";
    box.setAttribute("role", "group");
    box.setAttribute("aria-label", S("quick_label"));
    box.setAttribute("data-i18n-aria-label", "quick_label");
    quick.forEach(function (q) {
      var b = document.createElement("button");
      b.type = "button";
      b.className = "quick-reply";
      b.textContent = String(q);
      b.addEventListener("click", function () {
        sendText(String(q));
        els.input.focus();
      });
      box.appendChild(b);
    });
    last.appendChild(box);
  }

  function afterRender(stick) {
    els.intro.hidden = !!els.messages.querySelector(".msg");
    refreshQuickReplies();
    if (stick) scrollToBottom();
  }

  function notice(text, isError) {
    var stick = nearBottom();
    var el = document.createElement("div");
    el.className = "notice" + (isError ? " error" : "");
    el.setAttribute("role", isError ? "alert" : "status");
    el.textContent = text;
    els.messages.appendChild(el);
    if (stick) scrollToBottom();
  }

  function renderOutgoing(item, before) {
    var el = makeMessage("citizen", item.text, null);
    el.setAttribute("data-mid", item.mid);
    el.setAttribute("data-adoptable", "");
    el.classList.add("pending");
    if (before) els.messages.insertBefore(el, before); else els.messages.appendChild(el);
    return el;
  }

  // ---- outbox --------------------------------------------------------------------------------------

  function saveOutbox() {
    updatePending();
    if (!state.outbox.length) {
      store.remove(KEY_OUTBOX);
      return;
    }
    store.set(KEY_OUTBOX, JSON.stringify({ conversation_id: state.conversationId, items: state.outbox.slice(0, 20) }));
  }

  // After a reload, messages that were not answered yet are shown again and resent with their ids.
  function restoreOutbox() {
    if (state.restored) return;
    state.restored = true;
    var saved;
    try { saved = JSON.parse(store.get(KEY_OUTBOX) || "null"); } catch (e) { saved = null; }
    if (!saved || saved.conversation_id !== state.conversationId || !Array.isArray(saved.items)) return;
    var items = saved.items.filter(function (i) {
      return i && typeof i.mid === "string" && typeof i.text === "string" && !state.resolved[i.mid] &&
        !state.outbox.some(function (o) { return o.mid === i.mid; });
    });
    if (!items.length) return;
    var firstPending = els.messages.querySelector(".msg.pending");
    var citizens = els.messages.querySelectorAll('.msg[data-role="citizen"][data-seq]');
    var lastStored = citizens[citizens.length - 1];
    items.forEach(function (item, k) {
      // The server may already hold the first of them: it is then the last citizen message shown.
      if (k === 0 && lastStored && !lastStored.getAttribute("data-mid") && bubbleText(lastStored) === item.text &&
          !lastStored.nextElementSibling) {
        lastStored.setAttribute("data-mid", item.mid);
        lastStored.classList.add("pending");
      } else {
        renderOutgoing(item, firstPending);
      }
    });
    state.outbox = items.concat(state.outbox);
    saveOutbox();
    afterRender(true);
  }

  function sendText(raw) {
    var text = String(raw || "").replace(/\r\n?/g, "\n").trim();
    if (!text || text.length > MAX_CHARS) return false;
    var item = { mid: uuid(), text: text, locale: state.locale };
    state.outbox.push(item);
    saveOutbox();
    renderOutgoing(item);
    afterRender(true);
    pump();
    return true;
  }

  function pump() {
    updatePending();
    if (state.inFlight || !state.outbox.length) return;
    var item = state.outbox[0];
    if (state.mode === "ws") {
      if (state.ws && state.wsOpen) transmitWs(item);
    } else {
      transmitHttp(item);
    }
  }

  function elementFor(mid) {
    // Compared, not put into a selector: the id comes back from the server.
    var nodes = els.messages.querySelectorAll(".msg[data-mid]");
    for (var i = 0; i < nodes.length; i++) if (nodes[i].getAttribute("data-mid") === mid) return nodes[i];
    return null;
  }

  function onReplies(mid, replies, via) {
    var stick = nearBottom();
    var idx = -1;
    for (var i = 0; i < state.outbox.length; i++) if (state.outbox[i].mid === mid) idx = i;
    // A second answer to one message (both transports raced): the first one was rendered already.
    if (idx < 0 && state.resolved[mid] && via === "http") return;
    if (idx >= 0) state.outbox.splice(idx, 1);
    if (mid) state.resolved[mid] = true;
    if (state.inFlight === mid) {
      state.inFlight = null;
      clearTimer("reply");
    }
    saveOutbox();
    var el = mid ? elementFor(mid) : null;
    if (el) el = dropResentCopy(el, mid, replies);
    if (el) {
      el.classList.remove("pending");
      // A seq on the replies means the citizen message is older than them and is never resent.
      if ((replies || []).some(function (r) { return r.seq != null; })) el.removeAttribute("data-adoptable");
    }
    insertReplies(mid, replies);
    hideTyping();
    afterRender(stick);
    pump();
  }

  // A message resent after a reload may already be on screen from the history, answered: the server
  // then returns replies we show already, and the citizen message just before them is its stored copy.
  function dropResentCopy(el, mid, replies) {
    var seqs = (replies || []).filter(function (r) { return r.seq != null; }).map(function (r) { return Number(r.seq); });
    if (!seqs.length || !seqs.every(function (s) { return state.seen[s]; })) return el;
    var first = null;
    var lowest = Math.min.apply(null, seqs);
    els.messages.querySelectorAll(".msg[data-seq]").forEach(function (n) {
      if (Number(n.getAttribute("data-seq")) === lowest) first = n;
    });
    var prev = first ? first.previousElementSibling : null;
    while (prev && prev.getAttribute("data-role") !== "citizen") prev = prev.previousElementSibling;
    if (!prev || prev === el || prev.getAttribute("data-mid") || bubbleText(prev) !== bubbleText(el)) return el;
    el.remove();
    prev.setAttribute("data-mid", mid);
    return prev;
  }

  function failItem(item, detail) {
    var idx = state.outbox.indexOf(item);
    if (idx >= 0) state.outbox.splice(idx, 1);
    if (state.inFlight === item.mid) {
      state.inFlight = null;
      clearTimer("reply");
    }
    saveOutbox();
    hideTyping();
    var el = elementFor(item.mid);
    if (el) {
      el.classList.remove("pending");
      el.classList.add("failed");
      var retry = document.createElement("button");
      retry.type = "button";
      retry.className = "retry";
      retry.setAttribute("data-i18n", "retry");
      retry.textContent = S("retry");
      retry.addEventListener("click", function () {
        retry.remove();
        el.classList.remove("failed");
        el.classList.add("pending");
        state.outbox.push(item);
        saveOutbox();
        pump();
      });
      el.appendChild(retry);
    }
    if (detail) notice(S("error") + detail, true);
    pump();
  }

  // ---- WebSocket transport -----------------------------------------------------------------------------

  function wsUrl() {
    return (window.location.protocol === "https:" ? "wss://" : "ws://") + window.location.host + "/ws/chat";
  }

  function wsSend(obj) {
    try {
      state.ws.send(JSON.stringify(obj));
      return true;
    } catch (e) {
      return false;
    }
  }

  function transmitWs(item) {
    if (!wsSend({ type: "message", conversation_id: state.conversationId, message_id: item.mid, text: item.text,
                  locale: item.locale })) return;
    state.inFlight = item.mid;
    armReplyTimer();
  }

  function armReplyTimer() {
    if (!state.inFlight || state.mode !== "ws") return;
    setTimer("reply", function () {
      // A half-dead connection never reports its close: drop it, reconnect and resend.
      if (state.ws) state.ws.close();
    }, REPLY_TIMEOUT_MS);
  }

  function connectWs() {
    clearTimer("reconnect");
    if (state.ws) return;
    if (typeof window.WebSocket !== "function") {
      switchToHttp();
      return;
    }
    var ws;
    try {
      ws = new WebSocket(wsUrl());
    } catch (e) {
      onWsClosed(null, false);
      return;
    }
    var delivered = false;
    state.ws = ws;
    state.wsOpen = false;
    if (state.mode === "ws") setStatus(state.attempts ? "reconnecting" : "connecting", state.attempts ? "offline" : "");
    setTimer("open", function () { if (state.ws === ws && !state.wsOpen) ws.close(); }, OPEN_TIMEOUT_MS);

    ws.onopen = function () {
      if (state.ws !== ws) return;
      clearTimer("open");
      state.wsOpen = true;
      if (state.mode === "http") leaveHttp();
      setStatus(null);
      wsSend({ type: "hello", conversation_id: state.conversationId, locale: state.locale, after: state.lastSeq });
      // Whatever was in flight on the old transport is resent with the same id.
      state.inFlight = null;
      pump();
    };
    ws.onmessage = function (ev) {
      if (state.ws !== ws) return;
      delivered = true;
      state.attempts = 0;
      var data;
      try { data = JSON.parse(ev.data); } catch (e) { return; }
      if (data && typeof data === "object") handleFrame(data);
      armReplyTimer();
    };
    ws.onerror = function () { /* a close event follows */ };
    ws.onclose = function () {
      if (state.ws !== ws) return;
      onWsClosed(ws, delivered);
    };
  }

  function onWsClosed(ws, delivered) {
    clearTimer("open");
    clearTimer("reply");
    state.ws = null;
    state.wsOpen = false;
    if (state.mode === "ws") {
      state.inFlight = null;
      hideTyping();
    }
    if (!delivered) state.attempts += 1; else state.attempts = 1;
    if (state.mode === "http") {
      setTimer("reconnect", connectWs, WS_RETRY_FROM_HTTP_MS);
      renderStatus();
      return;
    }
    if (state.attempts >= WS_ATTEMPTS_BEFORE_HTTP && !delivered) {
      switchToHttp();
      return;
    }
    setStatus("reconnecting", "offline");
    setTimer("reconnect", connectWs, backoff(state.attempts));
  }

  function handleFrame(data) {
    var stick;
    switch (data.type) {
      case "replies":
        onReplies(data.in_reply_to, data.replies, "ws");
        break;
      case "typing":
        showTyping();
        break;
      case "history":
      case "push":
        stick = nearBottom();
        renderStored(data.messages);
        if (data.type === "push" || (data.messages && data.messages.length)) hideTyping();
        afterRender(stick || !state.ready);
        markReady();
        break;
      case "error":
        if (state.inFlight) {
          var item = state.outbox.filter(function (i) { return i.mid === state.inFlight; })[0];
          if (item) {
            failItem(item, data.detail ? String(data.detail) : "");
            break;
          }
        }
        notice(S("error") + (data.detail ? String(data.detail) : ""), true);
        break;
      default:
        break;
    }
  }

  function markReady() {
    if (state.ready) return;
    state.ready = true;
    clearTimer("restore");
    els.messages.setAttribute("data-ready", "1");
    restoreOutbox();
    pump();
  }

  // ---- HTTP fallback -------------------------------------------------------------------------------------

  function switchToHttp() {
    state.mode = "http";
    state.inFlight = null;
    setStatus("http_mode");
    clearTimer("reconnect");
    if (typeof window.WebSocket === "function") setTimer("reconnect", connectWs, WS_RETRY_FROM_HTTP_MS);
    poll();
    pump();
  }

  function leaveHttp() {
    state.mode = "ws";
    clearTimer("poll");
    clearTimer("retry");
  }

  function errorDetail(response) {
    return response.json().then(function (body) {
      var d = body && body.detail;
      if (typeof d === "string") return d;
      if (Array.isArray(d) && d.length && d[0] && d[0].msg) return String(d[0].msg);
      return "HTTP " + response.status;
    }, function () { return "HTTP " + response.status; });
  }

  function transmitHttp(item) {
    state.inFlight = item.mid;
    showTyping();
    fetch("/api/v1/chat", {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ conversation_id: state.conversationId, message_id: item.mid, text: item.text,
                             locale: item.locale }),
    }).then(function (response) {
      if (response.ok) return response.json();
      return errorDetail(response).then(function (detail) {
        var err = new Error(detail);
        err.status = response.status;
        err.detail = detail;
        throw err;
      });
    }).then(function (data) {
      httpOk();
      onReplies(item.mid, (data && data.replies) || [], "http");
    }).catch(function (err) {
      if (state.inFlight === item.mid) state.inFlight = null;
      hideTyping();
      var s = err && err.status;
      if (s && s >= 400 && s < 500 && s !== 408 && s !== 425 && s !== 429) {
        failItem(item, err.detail || "");
        return;
      }
      httpFailed();
      if (state.mode === "http") setTimer("retry", pump, backoff(state.httpFailures));
    });
  }

  function httpOk() {
    state.httpFailures = 0;
    if (state.mode === "http" && state.statusKey !== "http_mode") setStatus("http_mode");
  }

  function httpFailed() {
    state.httpFailures += 1;
    if (state.mode === "http") setStatus("offline", "offline");
  }

  function poll() {
    clearTimer("poll");
    if (state.mode !== "http") return;
    if (document.hidden && state.ready) {
      setTimer("poll", poll, POLL_MS);
      return;
    }
    var url = "/api/v1/chat/" + encodeURIComponent(state.conversationId) + "/history?after=" + state.lastSeq;
    fetch(url, { cache: "no-store", headers: { Accept: "application/json" } }).then(function (response) {
      if (response.status === 404) return { messages: [] };
      if (!response.ok) throw new Error("HTTP " + response.status);
      return response.json();
    }).then(function (data) {
      httpOk();
      var stick = nearBottom();
      renderStored((data && data.messages) || []);
      afterRender(stick || !state.ready);
      markReady();
    }).catch(function () {
      httpFailed();
    }).then(function () {
      if (state.mode === "http") setTimer("poll", poll, POLL_MS);
    });
  }

  // ---- wiring ----------------------------------------------------------------------------------------------

  function submitInput() {
    if (sendText(els.input.value)) {
      els.input.value = "";
      updateCounter();
      autoGrow();
    }
    els.input.focus();
  }

  function init() {
    els.messages = $("messages");
    els.input = $("input");
    els.send = $("send");
    els.counter = $("counter");
    els.typing = $("typing");
    els.status = $("status");
    els.intro = $("intro");
    els.langToggle = $("lang-toggle");
    els.newConversation = $("new-conversation");
    els.composer = $("composer");

    els.input.setAttribute("maxlength", String(MAX_CHARS));
    applyLocale();
    updateCounter();
    updatePending();
    keepBottomOnResize();

    els.langToggle.addEventListener("click", function () {
      setLocale(state.locale === "en" ? "zh-CN" : "en");
    });
    els.newConversation.addEventListener("click", function (ev) {
      ev.preventDefault();
      store.set(KEY_CONVERSATION, uuid());
      store.remove(KEY_OUTBOX);
      if (state.ws) {
        var ws = state.ws;
        state.ws = null;
        ws.close();
      }
      window.location.reload();
    });
    els.composer.addEventListener("submit", function (ev) {
      ev.preventDefault();
      submitInput();
    });
    els.input.addEventListener("keydown", function (ev) {
      // Enter sends, Shift+Enter is a new line; Enter that confirms an IME composition (pinyin) does neither.
      if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing && ev.keyCode !== 229) {
        ev.preventDefault();
        submitInput();
      }
    });
    els.input.addEventListener("input", function () {
      updateCounter();
      autoGrow();
    });

    window.addEventListener("online", function () {
      if (state.mode === "ws" && !state.ws) {
        state.attempts = 0;
        connectWs();
      } else if (state.mode === "http") {
        poll();
        pump();
      }
    });
    window.addEventListener("offline", function () {
      setStatus("offline", "offline");
    });
    document.addEventListener("visibilitychange", function () {
      if (!document.hidden && state.mode === "ws" && !state.ws) connectWs();
    });

    // If no history ever arrives (no transport works yet), still show unsent messages from before the reload.
    setTimer("restore", restoreOutbox, 8000);
    connectWs();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
