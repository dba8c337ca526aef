// rtm2m dashboard: reads the API with the token from the URL fragment (#token=...) or localStorage, and
// keeps itself current over the WebSocket (/v1/ws). No framework, no CDN.
"use strict";

const state = { token: null, rows: new Map(), order: [], selected: null, updates: 0, dirty: false, surfaces: [], alerts: [], index: {} };
const $ = (id) => document.getElementById(id);
const fmt = (x, d = 0) => (x === null || x === undefined || !isFinite(x)) ? "—" : Number(x).toLocaleString("en-US", { maximumFractionDigits: d, minimumFractionDigits: d });
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));

function tokenFromPage() {
  const m = location.hash.match(/token=([^&]+)/);
  if (m) {
    const t = decodeURIComponent(m[1]);
    localStorage.setItem("rtm2m-token", t);
    history.replaceState(null, "", location.pathname);
    return t;
  }
  return localStorage.getItem("rtm2m-token");
}

async function api(path) {
  const r = await fetch(path, { headers: { Authorization: "Bearer " + state.token } });
  const body = await r.json().catch(() => ({}));
  if (r.status === 401) { localStorage.removeItem("rtm2m-token"); showLogin(); throw new Error("token refused"); }
  if (!r.ok) throw new Error((body.error && body.error.reason) || r.statusText);
  return body;
}

function showLogin() { $("login").hidden = false; $("main").hidden = true; }

function riskKey(r) {
  if (r.status === "bankrupt") return Infinity;
  if (r.margin_ratio !== null && r.margin_ratio !== undefined) return r.margin_ratio;
  return -Infinity;
}

function applyRows(list) {
  for (const r of list) state.rows.set(r.id, r);
  state.dirty = true;
}

function renderAccounts() {
  if (!state.dirty) return;
  state.dirty = false;
  const rows = [...state.rows.values()].sort((a, b) => riskKey(b) - riskKey(a) || (a.id < b.id ? -1 : 1)).slice(0, 60);
  const tb = $("accounts").querySelector("tbody");
  tb.innerHTML = rows.map((r) => {
    const ratio = r.margin_ratio;
    const w = ratio === null || ratio === undefined ? 0 : Math.min(60, ratio * 60);
    return `<tr data-id="${esc(r.id)}" class="${r.id === state.selected ? "sel" : ""}">` +
      `<td>${esc(r.id)}</td><td class="st st-${esc(r.status)}">${esc(r.status)}</td>` +
      `<td class="num">${fmt(r.equity_usd)}</td><td class="num">${fmt(r.mm_usd)}</td><td class="num">${fmt(r.im_usd)}</td>` +
      `<td class="num">${fmt(ratio, 3)}<span class="bar" style="width:${w}px"></span></td><td>${esc(r.worst_scenario || r.reason || "")}</td></tr>`;
  }).join("");
  state.updates += 1;
  $("accounts").dataset.updates = String(state.updates);
}

function heatColor(v, max) {
  if (v === null || v === undefined) return "transparent";
  const a = Math.min(1, Math.abs(v) / (max || 1));
  return v < 0 ? `rgba(248,81,73,${0.15 + 0.75 * a})` : `rgba(63,185,80,${0.15 + 0.75 * a})`;
}

async function loadDetail() {
  const id = state.selected;
  if (!id) return;
  let d;
  try { d = await api("/v1/accounts/" + encodeURIComponent(id)); } catch (e) { $("detail").innerHTML = `<p class="ex">${esc(e.message)}</p>`; return; }
  if (id !== state.selected) return;
  $("detail-id").textContent = id;
  const m = d.margin || {};
  let html = `<div class="cards">` +
    [["status", `<span class="st st-${esc(m.status)}">${esc(m.status)}</span>`], ["equity $", fmt(m.equity_usd)], ["MM $", fmt(m.mm_usd)], ["IM $", fmt(m.im_usd)], ["ratio", fmt(m.margin_ratio, 3)], ["cash $", fmt(d.cash_usd)]]
      .map(([k, v]) => `<div class="card"><div class="k">${k}</div><div class="v">${v}</div></div>`).join("") + `</div>`;
  const rep = d.report;
  if (rep) {
    html += `<table><thead><tr><th>position</th><th class="num">size</th><th class="num">value $</th><th class="num">delta</th><th class="num">vega $/pt</th><th class="num">worst P&L $</th></tr></thead><tbody>` +
      rep.positions.map((p) => `<tr><td>${esc(p.instrument)}</td><td class="num">${fmt(p.size, 3)}</td><td class="num">${fmt(p.value_usd)}</td><td class="num">${fmt(p.greeks.delta_coin, 3)}</td><td class="num">${fmt(p.greeks.vega_usd_per_vol_point, 1)}</td><td class="num">${fmt(p.pnl_worst_usd)}</td></tr>`).join("") + `</tbody></table>`;
    html += `<p class="hint">Greeks: ` + rep.greeks.map((g) => `${esc(g.underlying)} Δ ${fmt(g.delta_coin, 3)}, Γ ${fmt(g.gamma_per_usd, 6)}/$, vega ${fmt(g.vega_usd_per_vol_point, 1)} $/pt, θ ${fmt(g.theta_usd_per_day, 1)} $/day`).join("; ") + `</p>`;
  } else if (d.report_error) {
    html += `<p class="ex">report: ${esc(d.report_error)}</p>`;
  }
  for (const h of d.heatmaps || []) {
    const max = Math.max(1, ...h.pnl_usd.flat().filter((x) => x !== null).map(Math.abs));
    html += `<h3 class="hint">Scenario P&L $ — ${esc(h.underlying)} spot move × vol</h3><table class="heat"><tr><th></th>` + h.moves_pct.map((x) => `<th>${x > 0 ? "+" : ""}${x}%</th>`).join("") + `</tr>` +
      h.pnl_usd.map((row, i) => `<tr><th>vol ${esc(h.vols[i])}</th>` + row.map((v) => `<td style="background:${heatColor(v, max)}">${fmt(v)}</td>`).join("") + `</tr>`).join("") + `</table>`;
  }
  $("detail").innerHTML = html;
}

const COLORS = ["#58a6ff", "#3fb950", "#d29922", "#f85149", "#bc8cff", "#39c5cf", "#ff7bd5", "#e3b341"];

function renderSmiles() {
  const sel = $("smile-underlying");
  const names = state.surfaces.map((s) => s.underlying);
  if (sel.options.length !== names.length) sel.innerHTML = names.map((n) => `<option>${esc(n)}</option>`).join("");
  const s = state.surfaces.find((x) => x.underlying === sel.value) || state.surfaces[0];
  if (!s) { $("smiles").innerHTML = `<p class="hint">No option quotes yet.</p>`; return; }
  const W = 600, H = 260, P = 34, R = 74; // R: right margin, room for the expiry legend
  const pts = s.expiries.flatMap((e) => e.quotes);
  if (!pts.length) return;
  const kx = pts.map((q) => q.log_moneyness), iv = pts.flatMap((q) => [q.bid_iv ?? q.mark_iv, q.ask_iv ?? q.mark_iv]);
  const x0 = Math.min(...kx), x1 = Math.max(...kx), y0 = Math.min(...iv) * 0.95, y1 = Math.max(...iv) * 1.05;
  const X = (k) => P + (W - P - R) * (k - x0) / ((x1 - x0) || 1), Y = (v) => H - P + (2 * P - H) * (v - y0) / ((y1 - y0) || 1);
  let g = `<svg id="smile-svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}"><rect x="${P}" y="${P / 2}" width="${W - P - R}" height="${H - 1.5 * P}" fill="none" stroke="#2b333d"/>`;
  g += `<text x="${P}" y="${H - 8}">ln(K/F) ${x0.toFixed(2)}</text><text x="${W - R - 40}" y="${H - 8}">${x1.toFixed(2)}</text><text x="2" y="${P}">${(y1 * 100).toFixed(0)}%</text><text x="2" y="${H - P}">${(y0 * 100).toFixed(0)}%</text>`;
  s.expiries.forEach((e, i) => {
    const c = COLORS[i % COLORS.length];
    if (e.svi && e.expiry_years > 0) {
      let d = "";
      for (let j = 0; j <= 60; j++) {
        const k = x0 + (x1 - x0) * j / 60, dm = k - e.svi.m;
        const w = e.svi.a + e.svi.b * (e.svi.rho * dm + Math.sqrt(dm * dm + e.svi.sigma * e.svi.sigma));
        const v = Math.sqrt(Math.max(w, 0) / e.expiry_years);
        if (v >= y0 && v <= y1) d += (d ? "L" : "M") + X(k).toFixed(1) + "," + Y(v).toFixed(1);
      }
      g += `<path d="${d}" fill="none" stroke="${c}" stroke-width="1.2" opacity="0.8"/>`;
    }
    for (const q of e.quotes) {
      if (q.bid_iv != null && q.ask_iv != null) g += `<line x1="${X(q.log_moneyness)}" x2="${X(q.log_moneyness)}" y1="${Y(q.bid_iv)}" y2="${Y(q.ask_iv)}" stroke="${c}" opacity="0.5"/>`;
      g += `<circle cx="${X(q.log_moneyness)}" cy="${Y(q.mark_iv)}" r="2.2" fill="${c}"><title>${esc(q.instrument)} ${(q.mark_iv * 100).toFixed(1)}%</title></circle>`;
    }
    g += `<text x="${W - R + 4}" y="${P + 12 * i}" style="fill:${c}">${esc(e.expiry)}</text>`;
  });
  $("smiles").innerHTML = g + `</svg>`;
}

function renderIndex() {
  $("index").innerHTML = Object.values(state.index).map((ix) =>
    `<p><b>${esc(ix.underlying)}</b> ${fmt(ix.price_usd, 2)} ± ${fmt(ix.confidence_usd, 2)} <span class="st ${ix.status === "ok" ? "st-healthy" : "st-margin_call"}">${esc(ix.status)}</span> ${esc((ix.flags || []).join(", "))}</p>` +
    `<table><thead><tr><th>source</th><th class="num">price $</th><th>state</th></tr></thead><tbody>` +
    (ix.used || []).map((u) => `<tr><td>${esc(u.source)}</td><td class="num">${fmt(u.price_usd, 2)}</td><td class="used">used</td></tr>`).join("") +
    (ix.excluded || []).map((u) => `<tr><td>${esc(u.source)}</td><td class="num">${fmt(u.price, 2)}</td><td class="ex">excluded: ${esc(u.reason)}</td></tr>`).join("") +
    (ix.sources_known ? "" : `<tr><td colspan="3" class="hint">index posted as is: sources unknown</td></tr>`) +
    `</tbody></table>`).join("");
}

function renderAlerts() {
  $("alerts").innerHTML = state.alerts.slice(0, 100).map((a) =>
    `<li><span class="hint">${esc(String(a.ts || "").slice(11, 19))}</span> <b>${esc(a.account)}</b> <span class="st st-${esc(a.status)}">${esc(a.status)}</span> equity $${fmt(a.equity_usd)} MM $${fmt(a.mm_usd)} shortfall $${fmt(a.shortfall_usd)}</li>`).join("");
}

async function refresh() {
  try {
    const [acc, st] = await Promise.all([api("/v1/accounts?limit=200"), api("/v1/status")]);
    applyRows(acc.accounts);
    const c = st.accounts_by_status || {};
    $("summary").innerHTML = `seq <b>${st.seq}</b> · ${esc(String(st.clock || "").slice(0, 19))} · ${fmt(st.events_per_second)} events/s · ` +
      ["healthy", "margin_call", "liquidatable", "bankrupt", "unpriced"].map((k) => `<span class="st-${k}">${k} <b>${c[k] ?? 0}</b></span>`).join(" · ") + ` · ${esc(st.feed.note)}`;
  } catch (e) { console.warn(e); }
}

async function refreshSlow() {
  try {
    const [s, ix, al] = await Promise.all([api("/v1/surfaces"), api("/v1/index"), api("/v1/alerts")]);
    state.surfaces = s.surfaces; renderSmiles();
    for (const i of ix.index) state.index[i.underlying] = i; renderIndex();
    state.alerts = al.alerts; renderAlerts();
  } catch (e) { console.warn(e); }
  loadDetail();
}

function connect() {
  const proto = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${proto}://${location.host}/v1/ws?topics=margins,status,alerts,index&token=${encodeURIComponent(state.token)}`);
  ws.onopen = () => { $("conn").textContent = "live"; $("conn").className = "pill on"; };
  ws.onclose = () => { $("conn").textContent = "reconnecting"; $("conn").className = "pill off"; setTimeout(connect, 2000); };
  ws.onmessage = (m) => {
    const f = JSON.parse(m.data);
    if (f.topic === "margins") {
      applyRows(f.items.map((o) => ({ id: o.account, status: o.status, equity_usd: o.equity_usd, im_usd: o.im_usd, mm_usd: o.mm_usd,
        margin_ratio: o.equity_usd > 0 ? o.mm_usd / o.equity_usd : null, worst_scenario: o.worst_scenario || null })));
    } else if (f.topic === "status") {
      for (const o of f.items) { const r = state.rows.get(o.account); if (r) { r.status = o.to; r.reason = o.reason || null; } }
      state.dirty = true;
    } else if (f.topic === "alerts") {
      state.alerts = f.items.slice().reverse().concat(state.alerts).slice(0, 200); renderAlerts();
    } else if (f.topic === "index") {
      for (const i of f.items) state.index[i.underlying] = i; renderIndex();
    }
  };
}

function start() {
  state.token = tokenFromPage();
  if (!state.token) { showLogin(); return; }
  $("login").hidden = true; $("main").hidden = false;
  $("accounts").addEventListener("click", (e) => {
    const tr = e.target.closest("tr[data-id]");
    if (!tr) return;
    state.selected = tr.dataset.id; state.dirty = true; renderAccounts(); loadDetail();
  });
  $("smile-underlying").addEventListener("change", renderSmiles);
  refresh().then(() => {
    if (!state.selected && state.rows.size) { state.selected = [...state.rows.values()].sort((a, b) => riskKey(b) - riskKey(a))[0].id; }
    refreshSlow();
  });
  connect();
  setInterval(renderAccounts, 500);
  setInterval(refresh, 5000);
  setInterval(refreshSlow, 4000);
}

$("login-form").addEventListener("submit", (e) => {
  e.preventDefault();
  localStorage.setItem("rtm2m-token", $("token-input").value.trim());
  start();
});
start();
