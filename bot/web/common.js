// Shared helpers of the simulator and the dashboard (plain browser JS, no build step).
"use strict";

const VB = (() => {
  const WEEK = ["周日", "周一", "周二", "周三", "周四", "周五", "周六"];
  let zone = "Asia/Shanghai";

  function esc(s) {
    return String(s ?? "").replace(/[&<>"']/g, (c) => ({
      "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;",
    })[c]);
  }

  // The parts of an instant in the bot's zone: {y, m, d, hh, mm, wd}.
  function parts(iso) {
    const f = new Intl.DateTimeFormat("en-GB", {
      timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", weekday: "short", hourCycle: "h23",
    });
    const p = {};
    for (const x of f.formatToParts(new Date(iso))) p[x.type] = x.value;
    const wd = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"].indexOf(p.weekday);
    return { y: p.year, m: p.month, d: p.day, hh: p.hour, mm: p.minute, wd };
  }

  function fmtFull(iso) {
    const p = parts(iso);
    return `${p.y}-${p.m}-${p.d} ${WEEK[p.wd]} ${p.hh}:${p.mm}`;
  }

  function fmtShort(iso) {
    const p = parts(iso);
    return `${+p.m}月${+p.d}日 ${WEEK[p.wd]} ${p.hh}:${p.mm}`;
  }

  // A time as typed in the clock box: 2019-06-07 17:00, in the bot's zone.
  function fmtInput(iso) {
    const p = parts(iso);
    return `${p.y}-${p.m}-${p.d} ${p.hh}:${p.mm}`;
  }

  // The page's own query (?token=…) carried on every API call.
  const query = new URLSearchParams(location.search);
  function withToken(path) {
    const t = query.get("token");
    if (!t) return path;
    return path + (path.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(t);
  }

  async function api(path, body) {
    const opts = body === undefined ? {} : {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
    };
    const r = await fetch(withToken(path), opts);
    const data = await r.json().catch(() => ({}));
    if (!r.ok) throw new Error(data.error || `HTTP ${r.status}`);
    return data;
  }

  // A live connection that reconnects; `onEvent` gets each pushed object.
  function live(onEvent, onOpen) {
    let delay = 500;
    function connect() {
      const proto = location.protocol === "https:" ? "wss:" : "ws:";
      const ws = new WebSocket(proto + "//" + location.host + withToken("/api/ws"));
      ws.onopen = () => { delay = 500; if (onOpen) onOpen(); };
      ws.onmessage = (e) => onEvent(JSON.parse(e.data));
      ws.onclose = () => { setTimeout(connect, delay); delay = Math.min(delay * 2, 8000); };
    }
    connect();
  }

  function avatar(name, cls) {
    const ch = (name || "?").trim().slice(0, 1);
    let h = 0;
    for (const c of name || "?") h = (h * 31 + c.charCodeAt(0)) % 360;
    return `<span class="avatar ${cls || ""}" style="--h:${h}">${esc(ch)}</span>`;
  }

  return {
    esc, fmtFull, fmtShort, fmtInput, api, live, avatar, withToken, parts,
    setZone: (z) => { zone = z || zone; },
  };
})();
