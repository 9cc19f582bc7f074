// The chat simulator: speak as anyone in any group; the bot's replies arrive live.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const DM = "__dm__";
  const PHONE = window.matchMedia("(max-width: 760px)");
  const CHIPS = ["#帮助", "#进度查询", "#未报", "#排名", "#查分", "#积分榜", "#商品", "#规则", "#提醒列表"];
  const S = {
    state: null, messages: [], room: localStorage.getItem("vb.room") || null,
    speaker: localStorage.getItem("vb.speaker") || null, extraRooms: [], unread: {},
    picked: [], busy: false,
  };

  const person = (id) => (S.state?.people || []).find((p) => p.id === id);
  const rooms = () => [...(S.state?.rooms || []), ...S.extraRooms.filter(
    (x) => !(S.state?.rooms || []).some((r) => r.id === x.id))];
  const roomById = (id) => rooms().find((r) => r.id === id);
  const nameOf = (id) => (id === S.state?.bot.id ? S.state.bot.name : person(id)?.name || id);

  function inView(m) {
    if (S.room === DM) return m.room == null && (m.sender === S.speaker || m.to === S.speaker);
    return m.room === S.room;
  }

  function keyOf(m) { return m.room == null ? DM : m.room; }

  // -- rendering -------------------------------------------------------------------

  function renderClock() {
    if (!S.state) return;
    $("clock").textContent = VB.fmtFull(S.state.now);
    $("clock-controls").hidden = !S.state.virtual;
    if (S.state.virtual && !$("clock-to").value) $("clock-to").value = VB.fmtInput(S.state.now);
  }

  function renderSpeakers() {
    const sel = $("speaker");
    const r = roomById(S.room);
    const inRoom = new Set(r ? r.members : []);
    const people = S.state.people;
    const opt = (p) => `<option value="${VB.esc(p.id)}">${VB.esc(p.name)}${p.title ? "（" + VB.esc(p.title) + "）" : ""}</option>`;
    const mine = r ? r.members.map(person).filter(Boolean) : [];
    const others = people.filter((p) => !inRoom.has(p.id));
    sel.innerHTML = (mine.length ? `<optgroup label="本群成员">${mine.map(opt).join("")}</optgroup>` : "")
      + `<optgroup label="${mine.length ? "其他人" : "所有人"}">${others.map(opt).join("")}</optgroup>`
      + `<option value="__new__">＋ 新的人…</option>`;
    if (S.speaker && !person(S.speaker)) {
      sel.insertAdjacentHTML("afterbegin", `<option value="${VB.esc(S.speaker)}">${VB.esc(S.speakerName || S.speaker)}</option>`);
    }
    sel.value = S.speaker || "";
    const me = person(S.speaker);
    const bits = [];
    if (me?.roles?.length) bits.push(me.roles.join("、"));
    if (me?.household) bits.push("户：" + me.household);
    $("me-info").textContent = bits.join(" · ") || (me ? "村民" : "");
  }

  function preview(id) {
    const last = [...S.messages].reverse().find((m) => keyOf(m) === id
      && (id !== DM || m.sender === S.speaker || m.to === S.speaker));
    if (!last) return "";
    const who = last.dir === "out" ? S.state.bot.name : last.name || nameOf(last.sender);
    return `${who}：${last.image && !last.text ? "[图片]" : last.text}`.slice(0, 40);
  }

  function renderRooms() {
    const ul = $("room-list");
    const items = [{ id: DM, topic: `私聊 · ${S.state.bot.name}`, unit: null, level: null, depth: 0 }, ...rooms()];
    ul.innerHTML = items.map((r) => {
      const unread = S.unread[r.id] ? `<span class="badge">${S.unread[r.id]}</span>` : "";
      const tag = r.level ? `<span class="lvl lvl-${VB.esc(r.level)}">${VB.esc(r.level)}</span>` : (r.id === DM ? "" : `<span class="lvl">未绑定</span>`);
      return `<li class="room${r.id === S.room ? " active" : ""}" data-id="${VB.esc(r.id)}" style="--depth:${r.depth || 0}">
        ${VB.avatar(r.unit || r.topic, r.id === DM ? "bot" : "group")}
        <div class="room-text"><div class="room-name">${VB.esc(r.topic)} ${tag}</div>
        <div class="room-last">${VB.esc(preview(r.id))}</div></div>${unread}</li>`;
    }).join("");
  }

  function renderHead() {
    if (S.room === DM) {
      $("room-title").textContent = `与 ${S.state.bot.name} 私聊`;
      $("room-sub").textContent = "只有你和机器人能看到";
      return;
    }
    const r = roomById(S.room);
    $("room-title").textContent = r ? `${r.topic}（${r.members.length}）` : "选择一个群";
    $("room-sub").textContent = r ? (r.unit ? `绑定单位：${r.unit}（${r.level}）` : "本群还没有绑定单位") : "";
  }

  function renderMembers() {
    const r = roomById(S.room);
    const ids = r ? r.members : [];
    $("member-list").innerHTML = ids.map((id) => {
      const p = person(id);
      if (!p) return "";
      const sub = p.title || p.roles.join("、") || (p.household ? p.household : "");
      return `<li data-id="${VB.esc(id)}" title="点击 @${VB.esc(p.name)}">${VB.avatar(p.name)}
        <span class="m-name">${VB.esc(p.name)}</span><span class="m-sub">${VB.esc(sub)}</span></li>`;
    }).join("") || `<li class="empty">还没有人</li>`;
  }

  function bubble(m) {
    const mine = m.dir === "in" && m.sender === S.speaker;
    const bot = m.dir === "out";
    const name = bot ? S.state.bot.name : (m.name || nameOf(m.sender));
    const at = (m.mentions || []).map((id) => "@" + nameOf(id) + " ").join("");
    const text = m.text ? `<div class="text">${VB.esc(at + m.text)}</div>` : "";
    const img = m.image ? `<img class="pic" alt="图片" src="${VB.esc(VB.withToken(m.image))}">` : "";
    return `<div class="msg ${mine ? "mine" : ""} ${bot ? "bot" : ""}" data-id="${m.id}" data-kind="${VB.esc(m.kind || "")}">
      ${VB.avatar(name, bot ? "bot" : "")}
      <div class="body">${mine ? "" : `<div class="who">${VB.esc(name)}</div>`}
      <div class="bubble">${text}${img}</div></div></div>`;
  }

  function renderMessages() {
    const box = $("messages");
    const list = S.messages.filter(inView);
    let last = null;
    const html = [];
    for (const m of list) {
      const t = new Date(m.at).getTime();
      if (last === null || t - last > 5 * 60 * 1000) html.push(`<div class="when">${VB.esc(VB.fmtShort(m.at))}</div>`);
      last = t;
      html.push(bubble(m));
    }
    box.innerHTML = html.join("") || `<div class="when">还没有消息</div>`;
    box.scrollTop = box.scrollHeight;
  }

  function renderAll() {
    renderClock(); renderRooms(); renderSpeakers(); renderHead(); renderMembers(); renderMessages();
  }

  // -- actions ---------------------------------------------------------------------

  function selectRoom(id) {
    S.room = id;
    S.unread[id] = 0;
    localStorage.setItem("vb.room", id);
    const r = roomById(id);
    // Speak as someone of this group, as one would in WeChat.
    if (r && r.members.length && !r.members.includes(S.speaker)) setSpeaker(r.members[0]);
    renderAll();
    // On a phone the list gives way to the chat, as in WeChat (返回 brings it back).
    document.body.classList.add("in-chat");
    if (!PHONE.matches) $("input").focus();
  }

  function setSpeaker(id) {
    S.speaker = id;
    localStorage.setItem("vb.speaker", id);
  }

  async function refreshState() {
    S.state = await VB.api("/api/state");
    VB.setZone(S.state.zone);
    renderAll();
  }

  let refreshTimer = null;
  function refreshSoon() {
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(() => refreshState().catch(console.error), 150);
  }

  async function send(text) {
    if (!text.trim() || !S.speaker) return;
    const p = person(S.speaker);
    const body = {
      text, sender: S.speaker, name: p ? p.name : (S.speakerName || S.speaker),
      room: S.room === DM ? null : S.room, mentions: S.picked,
    };
    const r = roomById(S.room);
    if (r && !r.members.length) body.topic = r.topic;
    S.picked = [];
    await VB.api("/api/say", body);
    refreshSoon();
  }

  async function moveClock(body) {
    if (S.busy) return;
    S.busy = true;
    document.body.classList.add("busy");
    // Greyed out while the jobs of the move run and their messages go out (charts are
    // drawn as they are sent): a tap then would otherwise be lost without a sign.
    const buttons = document.querySelectorAll("#clock-controls button");
    for (const b of buttons) b.disabled = true;
    try {
      const r = await VB.api("/api/clock", body);
      S.state.now = r.now;
      $("clock-to").value = VB.fmtInput(r.now);
      renderClock();
      refreshSoon();
    } catch (e) {
      alert(e.message);
    } finally {
      S.busy = false;
      document.body.classList.remove("busy");
      for (const b of buttons) b.disabled = false;
    }
  }

  function onEvent(ev) {
    if (ev.type === "message") {
      const m = ev.message;
      if (S.messages.some((x) => x.id === m.id)) return;
      S.messages.push(m);
      const k = keyOf(m);
      if (k !== S.room && (k !== DM || m.to === S.speaker)) S.unread[k] = (S.unread[k] || 0) + 1;
      if (inView(m)) {
        const box = $("messages");
        if (box.querySelector(".msg") === null) renderMessages();
        else {
          const prev = S.messages.filter(inView).slice(-2)[0];
          if (prev && prev !== m && new Date(m.at) - new Date(prev.at) > 5 * 60 * 1000) {
            box.insertAdjacentHTML("beforeend", `<div class="when">${VB.esc(VB.fmtShort(m.at))}</div>`);
          }
          box.insertAdjacentHTML("beforeend", bubble(m));
          box.scrollTop = box.scrollHeight;
        }
      }
      renderRooms();
      if (m.dir === "out") refreshSoon();
    } else if (ev.type === "clock") {
      if (S.state) { S.state.now = ev.now; renderClock(); }
    }
  }

  // -- wiring ----------------------------------------------------------------------

  $("room-list").addEventListener("click", (e) => {
    const li = e.target.closest("li.room");
    if (li) selectRoom(li.dataset.id);
  });
  $("back").addEventListener("click", () => {
    document.body.classList.remove("in-chat");
    renderRooms();
  });
  $("member-list").addEventListener("click", (e) => {
    const li = e.target.closest("li[data-id]");
    if (!li) return;
    const p = person(li.dataset.id);
    const input = $("input");
    input.value += (input.value && !input.value.endsWith(" ") ? " " : "") + "@" + p.name + " ";
    S.picked.push(p.id);
    input.focus();
  });
  $("speaker").addEventListener("change", (e) => {
    let id = e.target.value;
    if (id === "__new__") {
      const name = prompt("新的人叫什么名字？");
      if (!name) { renderSpeakers(); return; }
      id = "wxid_new_" + Math.random().toString(36).slice(2, 8);
      S.speakerName = name.trim();
    }
    setSpeaker(id);
    renderAll();
  });
  $("composer").addEventListener("submit", async (e) => {
    e.preventDefault();
    const input = $("input");
    const text = input.value;
    input.value = "";
    try { await send(text); } catch (err) { alert(err.message); input.value = text; }
  });
  $("input").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      $("composer").requestSubmit();
    }
  });
  $("chips").innerHTML = CHIPS.map((c) => `<button type="button" class="chip">${VB.esc(c)}</button>`).join("");
  $("chips").addEventListener("click", (e) => {
    const b = e.target.closest(".chip");
    if (!b) return;
    $("input").value = b.textContent + " ";
    $("input").focus();
  });
  for (const b of document.querySelectorAll("#clock-controls button[data-minutes], #clock-controls button[data-days]")) {
    b.addEventListener("click", () => moveClock(b.dataset.days ? { days: +b.dataset.days } : { minutes: +b.dataset.minutes }));
  }
  $("clock-go").addEventListener("click", () => {
    const v = $("clock-to").value;
    if (v) moveClock({ until: v });
  });
  $("new-room").addEventListener("click", () => {
    const topic = prompt("新群的群名？（建好后管理员发 #绑定 …）");
    if (!topic) return;
    const id = "sim_new_" + Math.random().toString(36).slice(2, 8);
    S.extraRooms.push({ id, topic: topic.trim(), unit: null, level: null, depth: 0, members: [] });
    selectRoom(id);
  });
  $("dash-link").href = VB.withToken("/dashboard");

  async function start() {
    await refreshState();
    const data = await VB.api("/api/messages");
    S.messages = data.messages;
    if (!S.room || (S.room !== DM && !roomById(S.room))) S.room = rooms()[0]?.id || DM;
    if (!S.speaker) setSpeaker(roomById(S.room)?.members[0] || S.state.people[0]?.id);
    renderAll();
    VB.live(onEvent, async () => {
      // After a reconnect: fetch what was missed.
      const lastId = S.messages.length ? S.messages[S.messages.length - 1].id : 0;
      const more = await VB.api("/api/messages?since=" + lastId);
      for (const m of more.messages) onEvent({ type: "message", message: m });
    });
    document.body.dataset.ready = "1";
  }
  start().catch((e) => { $("messages").textContent = "加载失败：" + e.message; });
})();
