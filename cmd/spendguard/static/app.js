// spendguard serve's page: plain JavaScript, no build step. Every number comes from
// the server's JSON API; the Server-Sent Events stream says when the server's index
// changed, and the page then reads its current page of budgets again.
"use strict";

const $ = (id) => document.getElementById(id);
const view = { pattern: "", sort: "name", per: 50, page: 1, selected: "" };
let info = { writable: false, interval_ms: 1000 };
let shownGen = -1, loading = false, again = false, shownRows = "";

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
  if (loading) { again = true; return; }
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
    if (again) { again = false; load(); }
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
