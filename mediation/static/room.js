/* The mediation room: WebRTC mesh over our WebSocket signalling, the waiting room, host controls,
 * screen sharing, consent-gated recording in the host's browser, and the agreement panel.
 * No libraries: the browser's RTCPeerConnection, getUserMedia, getDisplayMedia and MediaRecorder. */
(() => {
  "use strict";
  const cfg = JSON.parse(document.getElementById("mediation-config").textContent);
  const T = (zh, en) => (cfg.lang === "en" ? en : zh);
  const $ = (selector) => document.querySelector(selector);
  const state = {
    ws: null, me: null, admitted: false, local: null, camTrack: null, screenTrack: null, peers: new Map(),
    iceServers: cfg.iceServers || [], mutedByHost: false, micOn: true, camOn: true, roster: [], recording: null,
    pendingRecording: null, ended: document.body.dataset.state === "ended", stopped: false, pinger: null,
  };
  // Read by the browser tests and handy when debugging a call.
  window.mediation = state;

  const setStatus = (text) => { $("#status").textContent = text; };
  const setPhase = (phase) => { document.body.dataset.state = phase; };
  const roleName = (role) => cfg.roles[role] || role || "";
  const label = (peer) => [peer.name, roleName(peer.role)].filter(Boolean).join(" · ");

  async function getMedia() {
    // Modest on purpose: a mesh sends one stream per peer, from phones on mobile networks.
    const video = { width: { ideal: 640 }, height: { ideal: 480 }, frameRate: { ideal: 15 } };
    try {
      return await navigator.mediaDevices.getUserMedia({ audio: true, video });
    } catch (err) {
      try {
        setStatus(T("未能打开摄像头，仅使用麦克风。", "The camera could not be opened; joining with sound only."));
        return await navigator.mediaDevices.getUserMedia({ audio: true });
      } catch (err2) {
        setStatus(T("未能打开摄像头和麦克风，您可以观看和收听。", "No camera or microphone: you can watch and listen."));
        return new MediaStream();
      }
    }
  }

  async function join() {
    $("#join").disabled = true;
    state.stopped = false;
    if (!state.local) {
      state.local = await getMedia();
      state.camTrack = state.local.getVideoTracks()[0] || null;
      $("#local").srcObject = state.local;
    }
    connect();
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    const ws = new WebSocket(scheme + location.host + cfg.wsPath);
    state.ws = ws;
    ws.onmessage = (event) => {
      let message;
      try { message = JSON.parse(event.data); } catch (err) { return; }
      handle(message);
    };
    ws.onclose = () => {
      clearInterval(state.pinger);
      dropAllPeers();
      if (state.ws !== ws || state.ended || state.stopped) return;
      setPhase("reconnecting");
      setStatus(T("连接中断，正在重新连接…", "Connection lost; reconnecting…"));
      setTimeout(connect, 2000);
    };
    ws.onopen = () => {
      state.pinger = setInterval(() => send({ type: "ping" }), 20000);
    };
  }

  function send(message) {
    if (state.ws && state.ws.readyState === WebSocket.OPEN) state.ws.send(JSON.stringify(message));
  }

  function handle(m) {
    switch (m.type) {
      case "hello":
        state.me = m.you;
        if (m.ice_servers) state.iceServers = m.ice_servers;
        state.mutedByHost = Boolean(m.muted_by_host);
        applyMute();
        break;
      case "waiting":
        setPhase("waiting");
        setStatus(T("您已在等候室，请稍候，主持人将允许您进入。", "You are in the waiting room; the host will let you in shortly."));
        break;
      case "admitted":
        state.admitted = true;
        setPhase("in-room");
        setStatus(T("您已进入会议。", "You are in the session."));
        $("#room").hidden = false;
        $("#join").hidden = true;
        if ($("#host-panel")) $("#host-panel").hidden = false;
        setRecordingBadge(m.recording);
        if (cfg.provider === "livekit") {
          startLiveKit(m.livekit);
        } else {
          for (const peer of m.peers) createPeer(peer, true);
        }
        break;
      case "peer-joined":
        if (cfg.provider !== "livekit") createPeer(m.peer, false);
        break;
      case "peer-left":
        dropPeer(m.id);
        if (state.recording) remix();
        break;
      case "signal":
        queueSignal(m.from, m.data);
        break;
      case "roster":
        state.roster = m.members;
        renderRoster();
        break;
      case "mute":
        state.mutedByHost = Boolean(m.muted);
        applyMute();
        break;
      case "removed":
        state.stopped = true;
        stopEverything();
        setPhase("removed");
        setStatus(T("主持人已将您移出本次会议。", "The host has removed you from this session."));
        break;
      case "replaced":
        state.stopped = true;
        stopEverything();
        setPhase("replaced");
        setStatus(T("此链接已在另一个窗口打开。", "This link was opened in another window."));
        break;
      case "ended":
        state.ended = true;
        stopEverything();
        setPhase("ended");
        setStatus(T("本次会议已结束。", "This session has ended."));
        refreshAgreement();
        break;
      case "refused":
        state.stopped = true;
        stopEverything();
        setPhase("refused");
        setStatus(T("无法进入会议：", "Cannot join: ") + (m.detail || m.reason));
        break;
      case "consent-request":
        askConsent(m.recording_id);
        break;
      case "record-pending":
        recordStatus(T("等待各方同意录音（还有 ", "Waiting for consent (") + m.waiting.length + T(" 人）", " left)"));
        break;
      case "record-start":
        startRecorder(m.recording_id);
        break;
      case "record-declined":
        recordStatus(T("有参加人不同意录音：", "Someone did not agree to recording: ") + m.by);
        if (state.recording) state.recording.recorder.stop();
        break;
      case "recording":
        setRecordingBadge(m.on);
        break;
      case "agreement":
        refreshAgreement();
        break;
      case "error":
        if (m.code === "not_admitted") setStatus(T("请等待主持人允许您进入。", "Wait until the host admits you."));
        else console.warn("mediation:", m.code, m.detail || "");
        break;
      default:
        break;
    }
  }

  // ---- peers ---------------------------------------------------------------------------------------------

  function currentVideoTrack() { return state.screenTrack || state.camTrack; }

  function makeTile(peer) {
    const figure = document.createElement("figure");
    figure.className = "tile";
    figure.dataset.peer = String(peer.id);
    const video = document.createElement("video");
    video.autoplay = true;
    video.playsInline = true;
    const caption = document.createElement("figcaption");
    caption.textContent = label(peer);
    figure.append(video, caption);
    $("#tiles").append(figure);
    return figure;
  }

  function createPeer(peer, initiator) {
    dropPeer(peer.id);
    const pc = new RTCPeerConnection({ iceServers: state.iceServers });
    const tile = makeTile(peer);
    const entry = { id: peer.id, info: peer, pc, tile, video: tile.querySelector("video"), stream: new MediaStream(),
                    pending: [], chain: Promise.resolve() };
    entry.video.srcObject = entry.stream;
    state.peers.set(peer.id, entry);
    for (const track of state.local.getAudioTracks()) pc.addTrack(track, state.local);
    const video = currentVideoTrack();
    if (video) pc.addTrack(video, state.local);
    else pc.addTransceiver("video", { direction: "sendrecv" });
    if (!state.local.getAudioTracks().length) pc.addTransceiver("audio", { direction: "recvonly" });
    pc.onicecandidate = (event) => {
      if (event.candidate) send({ type: "signal", to: peer.id, data: { candidate: event.candidate } });
    };
    pc.ontrack = (event) => {
      entry.stream.addTrack(event.track);
      entry.video.play().catch(() => {});
      if (state.recording) remix();
    };
    pc.onconnectionstatechange = () => { tile.dataset.state = pc.connectionState; };
    applyRemoteMute(entry);
    if (initiator) {
      entry.chain = entry.chain.then(async () => {
        await pc.setLocalDescription(await pc.createOffer());
        send({ type: "signal", to: peer.id, data: { sdp: pc.localDescription } });
      }).catch((err) => console.warn("offer failed", err));
    }
    return entry;
  }

  function queueSignal(from, data) {
    let entry = state.peers.get(from);
    if (!entry) {
      const info = state.roster.find((m) => m.id === from) || { id: from, name: "", role: "" };
      entry = createPeer(info, false);
    }
    entry.chain = entry.chain.then(() => onSignal(entry, data)).catch((err) => console.warn("signal failed", err));
  }

  async function onSignal(entry, data) {
    const pc = entry.pc;
    if (data && data.sdp) {
      await pc.setRemoteDescription(data.sdp);
      if (data.sdp.type === "offer") {
        for (const t of pc.getTransceivers()) {
          // Answer with our camera (or a slot for a shared screen later) even when the offer came first.
          if (t.receiver.track.kind === "video" && t.direction === "recvonly") t.direction = "sendrecv";
        }
        await pc.setLocalDescription(await pc.createAnswer());
        send({ type: "signal", to: entry.id, data: { sdp: pc.localDescription } });
      }
      for (const candidate of entry.pending.splice(0)) await pc.addIceCandidate(candidate).catch(() => {});
    } else if (data && data.candidate) {
      if (pc.remoteDescription) await pc.addIceCandidate(data.candidate).catch(() => {});
      else entry.pending.push(data.candidate);
    }
  }

  function dropPeer(id) {
    const entry = state.peers.get(id);
    if (!entry) return;
    entry.pc.close();
    entry.tile.remove();
    state.peers.delete(id);
  }

  function dropAllPeers() { for (const id of [...state.peers.keys()]) dropPeer(id); }

  function stopEverything() {
    dropAllPeers();
    if (state.recording) state.recording.recorder.stop();
    if (state.livekitRoom) state.livekitRoom.disconnect();
    if (state.local) for (const track of state.local.getTracks()) track.stop();
    if (state.screenTrack) state.screenTrack.stop();
    state.local = null;
    $("#room").hidden = true;
    if ($("#host-panel")) $("#host-panel").hidden = true;
    if ($("#join")) $("#join").hidden = true;
    if (state.ws) state.ws.close();
  }

  // ---- microphone, camera, screen -------------------------------------------------------------------------

  function applyMute() {
    const on = state.micOn && !state.mutedByHost;
    if (state.local) for (const track of state.local.getAudioTracks()) track.enabled = on;
    const button = $("#mic");
    button.textContent = on ? T("静音", "Mute") : T("取消静音", "Unmute");
    button.setAttribute("aria-pressed", String(!on));
    // While the host holds the mute, this client will not turn the microphone on (the others' pages
    // also silence this participant, so a modified client is not heard either).
    button.disabled = state.mutedByHost;
    $("#muted-note").hidden = !state.mutedByHost;
    send({ type: "self-mute", muted: !on });
  }

  function applyRemoteMute(entry) {
    const member = state.roster.find((m) => m.id === entry.id);
    entry.video.muted = Boolean(member && member.muted);
  }

  function toggleCamera() {
    state.camOn = !state.camOn;
    if (state.camTrack) state.camTrack.enabled = state.camOn;
    $("#cam").textContent = state.camOn ? T("关闭摄像头", "Camera off") : T("打开摄像头", "Camera on");
    $("#cam").setAttribute("aria-pressed", String(!state.camOn));
  }

  function replaceVideo(track) {
    for (const entry of state.peers.values()) {
      const transceiver = entry.pc.getTransceivers().find((t) => t.receiver.track.kind === "video");
      if (transceiver) transceiver.sender.replaceTrack(track || null).catch(() => {});
    }
  }

  async function toggleShare() {
    if (state.screenTrack) { stopShare(); return; }
    let stream;
    try {
      stream = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false });
    } catch (err) {
      return;
    }
    state.screenTrack = stream.getVideoTracks()[0];
    // Documents: keep the text sharp (resolution before frame rate).
    if ("contentHint" in state.screenTrack) state.screenTrack.contentHint = "detail";
    state.screenTrack.onended = stopShare;
    replaceVideo(state.screenTrack);
    $("#local").srcObject = stream;
    $("#share").setAttribute("aria-pressed", "true");
    $("#share").textContent = T("停止共享", "Stop sharing");
  }

  function stopShare() {
    if (!state.screenTrack) return;
    state.screenTrack.stop();
    state.screenTrack = null;
    replaceVideo(state.camTrack);
    if (state.local) $("#local").srcObject = state.local;
    $("#share").setAttribute("aria-pressed", "false");
    $("#share").textContent = T("共享屏幕（展示材料）", "Share screen (show documents)");
  }

  function leave() {
    state.stopped = true;
    dropAllPeers();
    if (state.ws) state.ws.close();
    $("#room").hidden = true;
    if ($("#host-panel")) $("#host-panel").hidden = true;
    $("#join").hidden = false;
    $("#join").disabled = false;
    $("#join").textContent = T("重新进入", "Join again");
    setPhase("left");
    setStatus(T("您已离开会议。", "You have left the session."));
  }

  // ---- host controls ------------------------------------------------------------------------------------------

  function button(text, onClick, extra) {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = text;
    if (extra) b.className = extra;
    b.addEventListener("click", onClick);
    return b;
  }

  function renderRoster() {
    for (const entry of state.peers.values()) applyRemoteMute(entry);
    if (state.recording) remix();
    if (!cfg.host) return;
    const waiting = $("#waiting");
    const roster = $("#roster");
    waiting.replaceChildren();
    roster.replaceChildren();
    for (const member of state.roster) {
      if (member.id === cfg.participantId) continue;
      const li = document.createElement("li");
      li.dataset.member = String(member.id);
      const name = document.createElement("span");
      name.textContent = label(member) + (member.muted ? T("（已被静音）", " (muted by host)") : member.self_muted ? T("（已静音）", " (muted)") : "");
      li.append(name, " ");
      if (member.state === "waiting") {
        li.append(button(T("允许进入", "Admit"), () => send({ type: "admit", id: member.id })));
        waiting.append(li);
      } else {
        li.append(button(member.muted ? T("允许发言", "Allow to speak") : T("静音", "Mute"),
          () => send({ type: "mute", id: member.id, muted: !member.muted }), "secondary"));
        li.append(" ", button(T("移出", "Remove"), () => {
          if (confirm(T("确定将此人移出会议？其邀请链接将失效。", "Remove this person? Their link stops working."))) {
            send({ type: "remove", id: member.id });
          }
        }, "danger"));
        roster.append(li);
      }
    }
    if (!waiting.children.length) {
      const li = document.createElement("li");
      li.className = "muted";
      li.textContent = T("无人等候", "No one is waiting");
      waiting.append(li);
    }
  }

  // ---- recording: only after consent, in the host's browser --------------------------------------------------

  function recordStatus(text) { if ($("#record-status")) $("#record-status").textContent = text; }

  function setRecordingBadge(on) { $("#recording-badge").hidden = !on; }

  function askConsent(recordingId) {
    const dialog = $("#consent");
    const answer = (agree) => {
      send({ type: "consent", recording_id: recordingId, agree });
      dialog.close();
    };
    $("#consent-yes").onclick = () => answer(true);
    $("#consent-no").onclick = () => answer(false);
    if (!dialog.open) dialog.showModal();
  }

  function remix() {
    const rec = state.recording;
    if (!rec) return;
    const wanted = new Map();
    if (state.local && state.local.getAudioTracks().length) wanted.set("me", state.local);
    for (const entry of state.peers.values()) {
      const member = state.roster.find((m) => m.id === entry.id);
      if (entry.stream.getAudioTracks().length && !(member && member.muted)) wanted.set(entry.id, entry.stream);
    }
    for (const [key, node] of rec.sources) {
      if (wanted.get(key) !== node.stream) { node.source.disconnect(); rec.sources.delete(key); }
    }
    for (const [key, stream] of wanted) {
      if (!rec.sources.has(key)) {
        const source = rec.context.createMediaStreamSource(stream);
        source.connect(rec.destination);
        rec.sources.set(key, { source, stream });
      }
    }
  }

  function startRecorder(recordingId) {
    if (state.recording) return;
    const context = new AudioContext();
    const destination = context.createMediaStreamDestination();
    const mime = MediaRecorder.isTypeSupported("audio/webm;codecs=opus") ? "audio/webm;codecs=opus" : "";
    const recorder = new MediaRecorder(destination.stream, mime ? { mimeType: mime, audioBitsPerSecond: 32000 } : {});
    const uploads = [];
    let seq = 0;
    const rec = { id: recordingId, context, destination, recorder, sources: new Map() };
    state.recording = rec;
    remix();
    recorder.ondataavailable = (event) => {
      if (!event.data.size) return;
      const url = `${cfg.recordPath}/${recordingId}/chunks/${seq++}`;
      uploads.push(fetch(url, { method: "PUT", body: event.data, headers: { "Content-Type": event.data.type || "audio/webm" } }));
    };
    recorder.onstop = async () => {
      await Promise.allSettled(uploads);
      await fetch(`${cfg.recordPath}/${recordingId}/finish`, { method: "POST" }).catch(() => {});
      send({ type: "record-stopped" });
      context.close();
      state.recording = null;
      recordStatus(T("录音已保存到案件材料。", "The recording is saved with the case."));
      $("#record").textContent = T("开始录音（需各方同意）", "Record (everyone must agree)");
    };
    recorder.start(5000);
    recordStatus(T("正在录音", "Recording"));
    $("#record").textContent = T("停止录音", "Stop recording");
  }

  function toggleRecord() {
    if (state.recording) state.recording.recorder.stop();
    else {
      recordStatus(T("正在征求各方同意…", "Asking everyone for consent…"));
      send({ type: "record" });
    }
  }

  // ---- the agreement panel ---------------------------------------------------------------------------------------

  async function refreshAgreement() {
    const response = await fetch(`${cfg.agreementPath}?lang=${cfg.lang}`, { headers: { "X-Requested-With": "fetch" } });
    if (response.ok) $("#agreement").innerHTML = await response.text();
  }

  $("#agreement").addEventListener("submit", async (event) => {
    const form = event.target;
    const kind = form.dataset.kind;
    // Ending without agreement leaves the room anyway: let that form post normally.
    if (kind !== "confirm" && kind !== "terms") return;
    event.preventDefault();
    const response = await fetch(form.action, {
      method: "POST", body: new FormData(form), headers: { Accept: "application/json", "X-Requested-With": "fetch" },
    });
    if (!response.ok) {
      let detail = response.statusText;
      try { detail = (await response.json()).detail || detail; } catch (err) { /* not JSON */ }
      alert(detail);
    }
    refreshAgreement();
  });

  // ---- LiveKit (optional SFU): the same page with media through the SFU -----------------------------------------

  async function startLiveKit(conf) {
    const LK = window.LivekitClient;
    if (!conf || conf.error || !LK) {
      setStatus(T("服务器配置为 LiveKit，但未能连接：", "The server uses LiveKit but it cannot be reached: ") +
        ((conf && conf.error) || "livekit-client.umd.min.js"));
      return;
    }
    const room = new LK.Room();
    state.livekitRoom = room;
    room.on(LK.RoomEvent.TrackSubscribed, (track, publication, participant) => {
      const id = Number(String(participant.identity).replace(/^p/, ""));
      let entry = state.peers.get(id);
      if (!entry) {
        const info = state.roster.find((m) => m.id === id) || { id, name: participant.name, role: "" };
        const tile = makeTile(info);
        entry = { id, info, tile, video: tile.querySelector("video"), stream: new MediaStream(), pc: { close() {} } };
        entry.video.srcObject = entry.stream;
        state.peers.set(id, entry);
      }
      entry.stream.addTrack(track.mediaStreamTrack);
      entry.video.play().catch(() => {});
    });
    room.on(LK.RoomEvent.ParticipantDisconnected, (participant) => dropPeer(Number(String(participant.identity).replace(/^p/, ""))));
    await room.connect(conf.url, conf.token);
    for (const track of state.local.getTracks()) await room.localParticipant.publishTrack(track);
  }

  // ---- wiring ---------------------------------------------------------------------------------------------------

  if ($("#join")) $("#join").addEventListener("click", join);
  $("#mic").addEventListener("click", () => { state.micOn = !state.micOn; applyMute(); });
  $("#cam").addEventListener("click", toggleCamera);
  $("#share").addEventListener("click", toggleShare);
  $("#leave").addEventListener("click", leave);
  if (cfg.host) {
    $("#admit-all").addEventListener("click", () => send({ type: "admit-all" }));
    $("#record").addEventListener("click", toggleRecord);
    $("#end").addEventListener("click", () => {
      if (confirm(T("确定结束会议？所有人将离开。", "End the session for everyone?"))) send({ type: "end" });
    });
  }
  if (!navigator.mediaDevices || !window.RTCPeerConnection) {
    setStatus(T("此浏览器不支持视频会议，请使用新版 Chrome、Edge、Safari 或微信内置浏览器。",
      "This browser cannot do video calls; use a recent Chrome, Edge, Safari or WeChat's browser."));
    if ($("#join")) $("#join").disabled = true;
  }
})();
