// The read-only dashboard: renders the tables /api/dashboard gives, live.
"use strict";

(() => {
  const pct = (x) => (x == null ? "—" : Math.round(x * 100) + "%");

  function cell(col, row) {
    const v = row[col.key];
    switch (col.kind) {
      case "num":
        return `<td class="num">${VB.esc(v ?? "—")}</td>`;
      case "pct":
        return `<td class="num">${pct(v)}</td>`;
      case "lead": {
        if (v == null) return `<td class="num">—</td>`;
        const n = Math.round(v * 100);
        return `<td class="num ${n < 0 ? "neg" : "pos"}">${n > 0 ? "+" : ""}${n}</td>`;
      }
      case "signed": {
        if (v == null) return `<td class="num">—</td>`;
        return `<td class="num ${v < 0 ? "neg" : v > 0 ? "pos" : ""}">${v > 0 ? "+" : ""}${VB.esc(v)}</td>`;
      }
      case "progress": {
        if (!v) return "<td></td>";
        const c = Math.max(0, Math.min(1, v.completion ?? 0));
        const s = Math.max(0, Math.min(1, v.schedule ?? 0));
        const behind = (v.completion ?? 0) < (v.schedule ?? 0);
        return `<td><span class="bar" title="完成 ${pct(v.completion)}，序时 ${pct(v.schedule)}">
          <span class="fill ${behind ? "behind" : ""}" style="width:${c * 100}%"></span>
          <span class="mark" style="left:calc(${s * 100}% - 1px)"></span></span></td>`;
      }
      case "figure": {
        if (!v) return `<td class="fig empty">—</td>`;
        const c = Math.max(0, Math.min(1, v.completion));
        const s = Math.max(0, Math.min(1, v.schedule));
        const lead = Math.round(v.lead * 100);
        const title = `完成 ${pct(v.completion)}，序时进度 ${pct(v.schedule)}` + (v.reported ? `，最近报送 ${v.reported}` : "，未报送");
        return `<td class="fig" title="${VB.esc(title)}"><span class="bar small">
          <span class="fill ${lead < 0 ? "behind" : ""}" style="width:${c * 100}%"></span>
          <span class="mark" style="left:calc(${s * 100}% - 1px)"></span></span>
          <span class="fig-n">${VB.esc(v.done)}/${VB.esc(v.target)}</span>
          <span class="fig-p">${pct(v.completion)}</span>
          <span class="fig-l ${lead < 0 ? "neg" : "pos"}">${lead > 0 ? "+" : ""}${lead}</span></td>`;
      }
      case "tags": {
        const tags = (v || []).map((t) => `<span class="tag ${/滞后|末位|未|超期|逾期|冻结|扣/.test(t) ? "warn" : "ok"}">${VB.esc(t)}</span>`);
        return `<td>${tags.join("")}</td>`;
      }
      case "wrap":
        return `<td class="wrap">${VB.esc(v ?? "")}</td>`;
      case "time":
        return `<td>${v ? VB.esc(VB.fmtShort(v)) : "—"}</td>`;
      default: {
        const depth = col.indent ? row._depth || 0 : 0;
        return `<td class="${depth ? "indent-" + Math.min(depth, 3) : ""}">${VB.esc(v ?? "")}</td>`;
      }
    }
  }

  function table(t) {
    const head = t.columns.map((c) => `<th>${VB.esc(c.label)}</th>`).join("");
    const rows = t.rows.map((r) => `<tr>${t.columns.map((c) => cell(c, r)).join("")}</tr>`).join("");
    const title = t.title ? `<h3>${VB.esc(t.title)}</h3>` : "";
    const empty = t.rows.length ? "" : `<p class="note">${VB.esc(t.empty || "暂无")}</p>`;
    return `${title}${t.rows.length ? `<table><thead><tr>${head}</tr></thead><tbody>${rows}</tbody></table>` : ""}${empty}`;
  }

  function render(data) {
    VB.setZone(data.zone);
    // Served by `villagebot run`: there is no simulator to go back to.
    if (data.simulator === false) document.querySelector(".topbar nav")?.remove();
    document.getElementById("clock").textContent = VB.fmtFull(data.now);
    for (const [key, sec] of Object.entries(data.sections)) {
      const el = document.querySelector(`#${key} .body`);
      if (!el) continue;
      const note = sec.note ? `<p class="note">${VB.esc(sec.note)}</p>` : "";
      el.innerHTML = note + `<div class="tables">${(sec.tables || []).map((t) => `<div class="tbl">${table(t)}</div>`).join("")}</div>`;
    }
    document.body.dataset.ready = "1";
  }

  let timer = null;
  async function load() {
    try { render(await VB.api("/api/dashboard")); } catch (e) { console.error(e); }
  }
  function soon() { clearTimeout(timer); timer = setTimeout(load, 300); }

  load();
  // Read-only, but live: whatever the bot says may have changed a figure.
  // Reloaded on (re)connecting too: what changed before the socket was up is not missed.
  VB.live((ev) => {
    if (ev.type === "clock" || ev.type === "changed" || (ev.type === "message" && ev.message.dir === "out")) soon();
  }, soon);
})();
