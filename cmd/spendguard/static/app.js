// spendguard serve's page: plain JavaScript, no build step. Every number comes from
// the server's JSON API; the Server-Sent Events stream says when the server's index
// changed, and the page then reads its current page of budgets again.
"use strict";

const $ = (id) => document.getElementById(id);
const view = { pattern: "", sort: "name", per: 50, page: 1, selected: "" };
let info = { writable: false, interval_ms: 1000 };
let shownGen = -1, loading = false, again = false, pending = null, shownRows = "", shownRates = "";

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (cls) e.className = cls;
  return e;
}

async function getJSON(url) {
  const r = await fetch(url, { cache: "no-store" });
  let body;
  try { body = await r.json(); } catch { body = { error: "the server answered " + r.status }; }
  if (!r.ok) throw new Error(body.error || "the server answered " + r.status);
  return body;
}

function query(v) {
  const q = new URLSearchParams({ sort: v.sort, per: v.per, page: v.page });
  if (v.pattern) q.set("pattern", v.pattern);
  return "/api/budgets?" + q;
}

// load reads the current page of budgets; a failure leaves the table as it was.
async function load(next) {
  const v = next || view;
  // A load in flight (a live refresh, say) delays this one, never drops it: a
  // filter or page the user asked for is loaded once the current load is over.
  if (loading) { again = true; if (next) pending = next; return; }
  loading = true;
  try {
    const p = await getJSON(query(v));
    Object.assign(view, v, { page: p.page });
    $("filter-msg").textContent = "";
    render(p);
  } catch (e) {
    if (next) {
      $("filter-msg").textContent = e.message;
      $("pattern").value = view.pattern;
    } else {
      $("stale").hidden = false;
      $("stale").textContent = "Cannot read the budgets: " + e.message;
    }
  } finally {
    loading = false;
    if (again) { const n = pending; again = false; pending = null; load(n || undefined); }
  }
  if (view.selected) loadDetail();
}

function render(p) {
  shownGen = p.gen;
  const when = p.refreshed_at ? "refreshed " + p.refreshed_at + " in " + p.took_ms + " ms" : "first refresh under way";
  let state = p.total + " budgets";
  if (view.pattern) state = p.matched + " of " + state + " match " + view.pattern;
  if (p.skipped) state += "; " + p.skipped + " keys under the prefix are not budgets (spendguard list names them)";
  $("state").textContent = state + "; " + when;
  $("stale").hidden = !p.error;
  $("stale").textContent = p.error ? "The last refresh failed, the numbers are older: " + p.error : "";
  renderRates(p);
  $("pageinfo").textContent = "page " + p.page + " of " + p.pages;
  $("prev").disabled = p.page <= 1;
  $("next").disabled = p.page >= p.pages;
  // Rows are rebuilt only when what they show changed: a row under the pointer is
  // not replaced between a press and a release by a refresh that changed nothing.
  const shown = JSON.stringify([p.rows, p.total, view.pattern]);
  if (shown === shownRows) return;
  shownRows = shown;
  const tbody = $("budgets").tBodies[0];
  const rows = p.rows.map((b) => {
    const tr = el("tr");
    tr.dataset.name = b.name;
    const name = el("td", undefined, "name");
    const btn = el("button", b.name);
    btn.type = "button";
    btn.title = "show its live holds";
    btn.addEventListener("click", () => { view.selected = b.name; $("name").value = b.name; loadDetail(); });
    name.append(btn);
    const src = b.capacity_source === "redis" && b.default_capacity
      ? "redis (default " + b.default_capacity + ")" : b.capacity_source;
    tr.append(name, el("td", String(b.capacity), "num capacity"), el("td", src, "source"),
      el("td", String(b.consumed), "num consumed"), el("td", String(b.held), "num held"),
      el("td", String(b.remaining), "num remaining"), el("td", b.window_end || "-", "window_end"),
      meter(b));
    return tr;
  });
  if (rows.length === 0) {
    const tr = el("tr");
    const td = el("td", p.total ? "no budget matches " + view.pattern : "no budgets yet");
    td.colSpan = 8;
    tr.append(td);
    rows.push(tr);
  }
  tbody.replaceChildren(...rows);
}

// renderRates shows every rate limit, rebuilt only when what it shows changed.
function renderRates(p) {
  let state = p.rates.length + " rate limit(s) in Redis";
  if (p.rates_skipped) state += "; " + p.rates_skipped + " could not be read (spendguard rates names them)";
  if (p.rates_error) state += "; the last refresh failed, the numbers are older: " + p.rates_error;
  $("rates-state").textContent = state;
  const shown = JSON.stringify(p.rates);
  if (shown === shownRates) return;
  shownRates = shown;
  const rows = p.rates.map((r) => {
    const tr = el("tr");
    tr.dataset.name = r.name;
    const limit = r.limit.split("/")[0];
    const src = r.limit_source === "redis" && r.default_limit !== "-"
      ? "redis (default " + r.default_limit + ")" : r.limit_source;
    const inUse = r.tokens ? r.used_tokens + " of " + r.tokens : String(r.used_tokens);
    const reqs = r.requests ? r.used_requests + " of " + r.requests : String(r.used_requests);
    tr.append(el("td", r.name, "name"), el("td", limit, "limit"), el("td", interval(r.interval_ms), "num interval"),
      el("td", src, "source"), el("td", inUse, "num used_tokens"), el("td", reqs, "num used_requests"),
      el("td", String(r.in_flight), "num in_flight"), el("td", r.waiting_until || "-", "waiting_until"),
      el("td", r.paused_until || "-", "paused_until"));
    return tr;
  });
  if (rows.length === 0) {
    const tr = el("tr");
    const td = el("td", "no rate limits in Redis");
    td.colSpan = 9;
    tr.append(td);
    rows.push(tr);
  }
  $("rates").tBodies[0].replaceChildren(...rows);
}

// interval is a limit's interval as the CLI writes it: 5s, 1m, 1h30m, 250ms.
function interval(ms) {
  if (!ms) return "-";
  if (ms % 1000) return ms + "ms";
  let s = ms / 1000, out = "";
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
  s %= 60;
  if (h) out += h + "h";
  if (m) out += m + "m";
  if (s) out += s + "s";
  return out;
}

function meter(b) {
  const td = el("td", undefined, "used");
  const wrap = el("div", undefined, "usedwrap");
  const m = el("div", undefined, "meter");
  const cap = b.capacity || 1;
  const c = Math.min(100, (100 * b.consumed) / cap), h = Math.min(100 - c, (100 * b.held) / cap);
  const consumed = el("span", undefined, "consumed"), held = el("span", undefined, "held");
  consumed.style.width = c + "%";
  held.style.width = h + "%";
  m.append(consumed, held);
  if (b.remaining === 0) m.classList.add("full");
  m.title = "consumed " + b.consumed + ", held " + b.held + " of " + b.capacity;
  wrap.append(m, el("span", Math.round(c + h) + "%"));
  td.append(wrap);
  return td;
}

async function loadDetail() {
  const name = view.selected;
  $("detail").hidden = false;
  $("detail-name").textContent = name;
  try {
    const b = await getJSON("/api/budget?name=" + encodeURIComponent(name));
    if (name !== view.selected) return;
    $("detail-msg").textContent = "";
    const fields = [["capacity", b.capacity + " (" + (b.capacity_source === "redis"
      ? "set in Redis" : "the processes' default") + ")"], ["default capacity", b.default_capacity || "not yet known"],
      ["consumed", b.consumed], ["held", b.held + " in " + b.holds.length + " hold(s)"], ["remaining", b.remaining],
      ["window end", b.window_end || "-"]];
    $("detail-fields").replaceChildren(...fields.flatMap(([k, v]) => [el("dt", k), el("dd", String(v))]));
    const rows = b.holds.map((h) => {
      const tr = el("tr");
      tr.append(el("td", String(h.tokens), "num"), el("td", h.lease_end));
      return tr;
    });
    if (rows.length === 0) {
      const tr = el("tr");
      const td = el("td", "none");
      td.colSpan = 2;
      tr.append(td);
      rows.push(tr);
    }
    $("holds").tBodies[0].replaceChildren(...rows);
  } catch (e) {
    $("detail-msg").textContent = e.message;
  }
}

async function change(op) {
  const msg = $("change-msg");
  msg.className = "";
  msg.textContent = op + "…";
  const body = { name: $("name").value };
  if (op === "set") { body.capacity = $("capacity").value; body.new = $("new").checked; }
  let r, answer;
  try {
    r = await fetch("/api/" + op, {
      method: "POST",
      headers: { "Content-Type": "application/json", "Authorization": "Bearer " + $("token").value },
      body: JSON.stringify(body),
    });
    answer = await r.json();
  } catch (e) {
    answer = { error: "no answer from the server: " + e.message };
  }
  if (r && r.ok) {
    msg.className = "ok";
    msg.textContent = answer.message;
  } else {
    msg.className = "error";
    msg.textContent = "Refused, nothing changed: " + (answer.error || "status " + (r && r.status));
  }
}

function listen() {
  if (!window.EventSource) { setInterval(() => load(), info.interval_ms); return; }
  const es = new EventSource("/api/events");
  es.addEventListener("gen", (e) => { if (Number(e.data) !== shownGen) load(); });
}

async function start() {
  try { info = await getJSON("/api/info"); } catch (e) { $("stale").hidden = false; $("stale").textContent = e.message; }
  $("readonly").hidden = info.writable;
  for (const id of ["token", "set", "unset", "reset"]) $(id).disabled = !info.writable;
  $("filter").addEventListener("submit", (e) => {
    e.preventDefault();
    load({ ...view, pattern: $("pattern").value.trim(), sort: $("sort").value, per: Number($("per").value), page: 1 });
  });
  $("prev").addEventListener("click", () => load({ ...view, page: view.page - 1 }));
  $("next").addEventListener("click", () => load({ ...view, page: view.page + 1 }));
  $("detail-close").addEventListener("click", () => { view.selected = ""; $("detail").hidden = true; });
  $("change").addEventListener("submit", (e) => { e.preventDefault(); change(e.submitter ? e.submitter.value : "set"); });
  await load();
  listen();
}

start();
