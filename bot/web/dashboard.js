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

  // -- the meeting-room view: one unit (the city, or a county or township drilled into)

  const S = { root: null, unit: null, screen: null, task: null, counties: [], chart: null, notices: [] };
  const $ = (id) => document.getElementById(id);
  const signed = (n) => (n > 0 ? "+" : "") + n;

  function renderStanding(sc) {
    $("standing").innerHTML = sc.standing.map((t) => {
      const behind = t.lead < 0;
      const c = Math.max(0, Math.min(1, t.completion));
      const s = Math.max(0, Math.min(1, t.schedule));
      return `<div class="kpi ${behind ? "behind" : ""}">
        <div class="kpi-task">${VB.esc(t.task)}</div>
        <div class="kpi-main"><span class="kpi-pct">${pct(t.completion)}</span>
          <span class="kpi-lead ${behind ? "neg" : "pos"}">${signed(Math.round(t.lead * 100))}</span></div>
        <span class="bar wide"><span class="fill ${behind ? "behind" : ""}" style="width:${c * 100}%"></span>
          <span class="mark" style="left:calc(${s * 100}% - 1px)"></span></span>
        <div class="kpi-sub">${VB.esc(t.done)}/${VB.esc(t.target)} ${VB.esc(t.measure)} · 序时进度 ${pct(t.schedule)}</div></div>`;
    }).join("") || `<p class="note">还没有设定任务目标。</p>`;
  }

  function renderCrumbs(sc) {
    $("crumbs").innerHTML = sc.path.map((u, i) => i === sc.path.length - 1
      ? `<span class="here">${VB.esc(u.name)}</span>`
      : `<a href="#unit=${u.id}" data-unit="${u.id}">${VB.esc(u.name)}</a>`).join(`<span class="sep">›</span>`)
      + (sc.rankings.length && sc.rankings[0].rows.some((r) => r.drill) ? `<span class="hint">点单位看下一级</span>` : "");
    const county = sc.path[1] ? sc.path[1].id : (S.root?.id ?? "");
    $("county").value = String(county);
  }

  function currentRanking() {
    const list = S.screen?.rankings || [];
    return list.find((r) => r.task === S.task) || list[0] || null;
  }

  function renderTabs(sc) {
    const cur = currentRanking();
    $("rank-tabs").innerHTML = sc.rankings.map((r) =>
      `<button type="button" role="tab" class="tab${r === cur ? " on" : ""}" data-task="${VB.esc(r.task)}">${VB.esc(r.task)}</button>`).join("");
    const lower = { 市: "各县区", 县: "各乡镇", 乡: "各村" }[sc.unit.level] || "下级单位";
    $("rank-title").textContent = `${sc.unit.name}${lower}排名`;
  }

  function renderRankTable(r) {
    if (!r) { $("rank-table").innerHTML = `<p class="note">还没有可排名的下级单位。</p>`; return; }
    const hasDone = r.rows.some((x) => x.done != null);
    const rows = r.rows.map((x) => {
      const tags = [];
      if (!x.reported) tags.push("未报");
      if (x.stale) tags.push(`本周未报（数据截至${x.stale}）`);
      if (x.behind) tags.push("滞后");
      if (x.last) tags.push("末位");
      const name = x.drill ? `<a href="#unit=${x.id}" data-unit="${x.id}">${VB.esc(x.unit)}</a>` : VB.esc(x.unit);
      return `<tr class="${x.behind ? "behind" : ""}"><td class="num rank">${x.rank}</td><td class="unit">${name}</td>
        ${hasDone ? `<td class="num">${x.done == null ? "" : `${x.done}/${x.target}`}</td>` : ""}
        <td class="num">${x.completion}%</td><td class="num muted">${x.schedule}%</td>
        <td class="num ${x.lead < 0 ? "neg" : "pos"}">${signed(x.lead)}</td>
        <td class="tags">${tags.map((t) => `<span class="tag warn">${t}</span>`).join("")}</td></tr>`;
    }).join("");
    $("rank-table").innerHTML = `<table class="big"><thead><tr><th>名次</th><th>单位</th>${hasDone ? `<th class="num">完成/目标</th>` : ""}
      <th class="num">完成率</th><th class="num">序时</th><th class="num">±</th><th></th></tr></thead><tbody>${rows}</tbody></table>`;
  }

  function renderChart(r) {
    const box = $("rank-chart");
    if (!window.echarts) {
      // No chart library (make echarts installs it): the table beside says it all.
      box.hidden = true;
      $("ranking").classList.add("no-chart");
      return;
    }
    if (!r) { box.hidden = true; return; }
    box.hidden = false;
    if (!S.chart) {
      S.chart = echarts.init(box, null, { renderer: "canvas" });
      S.chart.on("click", (p) => {
        const row = currentRanking()?.rows[p.dataIndex];
        if (row?.drill) go(row.id);
      });
      window.addEventListener("resize", () => S.chart && S.chart.resize());
    }
    const rows = [...r.rows].reverse(); // best at the top of a horizontal bar chart
    const big = window.innerWidth >= 1200;
    const fs = big ? 18 : 13;
    // As tall as its bars need: a few townships get no giant bars.
    box.style.height = Math.max(220, Math.min(big ? 480 : 420, 70 + rows.length * (big ? 62 : 42))) + "px";
    S.chart.setOption({
      animation: false,
      grid: { left: 8, right: 56, top: 30, bottom: 8, containLabel: true },
      legend: { top: 0, right: 0, textStyle: { fontSize: fs - 2 }, data: ["完成率", "序时进度"] },
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" }, textStyle: { fontSize: fs },
        formatter: (ps) => { const x = rows[ps[0].dataIndex]; return `${VB.esc(x.unit)}<br>完成率 ${x.completion}%<br>序时进度 ${x.schedule}%<br>${x.lead < 0 ? "滞后" : "超前"} ${Math.abs(x.lead)} 个百分点${x.stale ? `<br>本周未报（数据截至${x.stale}）` : ""}`; } },
      xAxis: { type: "value", min: 0, max: Math.max(100, ...rows.map((x) => x.completion)), axisLabel: { formatter: "{value}%", fontSize: fs - 2 } },
      yAxis: { type: "category", data: rows.map((x) => x.stale ? `${x.unit}（未报）` : x.unit), axisLabel: { fontSize: fs }, axisTick: { show: false } },
      series: [
        { name: "完成率", type: "bar", barMaxWidth: 34, cursor: "pointer",
          itemStyle: { color: "#07c160" },
          // The figure inside a long bar, beside a short one: clear of the 序时 mark.
          data: rows.map((x) => ({ value: x.completion, itemStyle: { color: x.stale ? "#9e9e9e" : x.lead < 0 ? "#f0a020" : "#07c160" },  // grey: an old figure
            label: x.completion >= 25 ? { position: "insideRight", color: "#fff", fontWeight: "bold" } : { position: "right", color: "#333" } })),
          label: { show: true, formatter: "{c}%", fontSize: fs } },
        { name: "序时进度", type: "scatter", symbol: "rect", symbolSize: [4, big ? 40 : 24], z: 5,
          itemStyle: { color: "#333" }, data: rows.map((x) => x.schedule) },
      ],
    }, true);
    S.chart.resize();
  }

  function renderRanking() {
    const r = currentRanking();
    renderTabs(S.screen);
    renderRankTable(r);
    renderChart(r);
  }

  function renderUnreported(sc) {
    const el = document.querySelector("#unreported .body");
    document.querySelector("#unreported h2").textContent = `本周未报（${sc.week}起）· ${sc.unreported.length}个单位`;
    el.innerHTML = sc.unreported.length
      ? `<ul class="list">${sc.unreported.map((u) => `<li><span class="who">${VB.esc(u.unit)}</span>
          <span class="what">${u.tasks.map((t) => `<span class="tag warn">${VB.esc(t)}</span>`).join("")}</span></li>`).join("")}</ul>`
      : `<p class="note ok">本周都已报送。</p>`;
  }

  // Per group: who acknowledged and who has not (a group without cadres: anyone's 收到).
  function receiptPeople(groups) {
    const lines = groups.filter((g) => !g.anyone || !g.done).map((g) => {
      const who = g.anyone
        ? "任何人回复即可"
        : `已确认 ${VB.esc(g.acked.join("、") || "无")}${g.missing.length ? `；<span class="warn">未确认 ${VB.esc(g.missing.join("、"))}</span>` : ""}`;
      return `<li><span class="who">${VB.esc(g.group)}</span> ${who}</li>`;
    });
    return lines.length ? `<ul class="people">${lines.join("")}</ul>` : "";
  }

  function renderReceipts(rows) {
    const el = document.querySelector("#receipts .body");
    el.innerHTML = rows.length
      ? `<ul class="list receipts">${rows.map((n) => `<li><div class="line"><span class="who">#${VB.esc(n.no)} ${VB.esc(n.text)}</span>
          <span class="num">${VB.esc(n.acked)}</span></div>
          <span class="bar wide"><span class="fill ${n.percent < 1 ? "behind" : ""}" style="width:${Math.round(n.percent * 100)}%"></span></span>
          <div class="missing">未确认：${VB.esc(n.missing)}</div>${receiptPeople(n.groups || [])}</li>`).join("")}</ul>`
      : `<p class="note ok">近30天的通知都已确认收到。</p>`;
  }

  function renderScreen(sc) {
    if (!sc) return;
    S.screen = sc;
    S.unit = sc.unit.id;
    if (!S.screen.rankings.some((r) => r.task === S.task)) S.task = sc.rankings[0]?.task ?? null;
    renderCrumbs(sc);
    renderStanding(sc);
    renderRanking();
    renderUnreported(sc);
  }

  function renderCounties(root) {
    S.root = root.unit;
    S.counties = root.children;
    $("county").innerHTML = `<option value="${root.unit.id}">全市（${VB.esc(root.unit.name)}）</option>`
      + root.children.map((c) => `<option value="${c.id}">${VB.esc(c.name)}</option>`).join("");
  }

  function wanted() {
    const m = /unit=(\d+)/.exec(location.hash);
    return m ? +m[1] : null;
  }

  async function go(id) {
    if (location.hash !== `#unit=${id}`) history.pushState(null, "", `#unit=${id}` + "");
    await show(id);
  }

  async function show(id) {
    if (id == null || id === S.root?.id) {
      if (S.rootScreen) renderScreen(S.rootScreen);
      return;
    }
    try { renderScreen(await VB.api(`/api/dashboard/unit/${id}`)); } catch (e) { console.error(e); }
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
    renderReceipts(data.sections.notices?.tables?.[0]?.rows || []);
    if (data.screen) {
      S.rootScreen = data.screen;
      renderCounties(data.screen);
    } else {
      $("screen").classList.add("empty");
    }
  }

  let timer = null;
  async function load() {
    try {
      render(await VB.api("/api/dashboard"));
      await show(wanted());
    } catch (e) { console.error(e); }
    document.body.dataset.ready = "1";
  }
  function soon() { clearTimeout(timer); timer = setTimeout(load, 300); }

  // Drill-down: a unit's link or bar, the breadcrumbs, the county filter, the browser's back.
  document.addEventListener("click", (e) => {
    const a = e.target.closest("a[data-unit]");
    if (!a) return;
    e.preventDefault();
    go(+a.dataset.unit);
  });
  $("rank-tabs").addEventListener("click", (e) => {
    const b = e.target.closest("button[data-task]");
    if (!b) return;
    S.task = b.dataset.task;
    renderRanking();
  });
  $("county").addEventListener("change", (e) => go(+e.target.value));
  window.addEventListener("popstate", () => show(wanted()));
  for (const a of document.querySelectorAll("a[data-export]")) a.href = VB.withToken(`/api/export/${a.dataset.export}`);
  $("print").addEventListener("click", () => window.print());
  // Print: let the chart fit the paper's width, then back.
  window.addEventListener("beforeprint", () => S.chart && S.chart.resize());
  window.addEventListener("afterprint", () => S.chart && S.chart.resize());

  load();
  // Read-only, but live: whatever the bot says may have changed a figure.
  // Reloaded on (re)connecting too: what changed before the socket was up is not missed.
  VB.live((ev) => {
    if (ev.type === "clock" || ev.type === "changed" || (ev.type === "message" && ev.message.dir === "out")) soon();
  }, soon);
})();
