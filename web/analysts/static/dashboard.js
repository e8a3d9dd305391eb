// The KIM analytics dashboard: reads the read API (/v1/...) and draws plotly charts. No external requests.
"use strict";

const BUCKETS = ["0-30", "31-90", "91-180", ">180"];
const CONFIG = { displayModeBar: false, responsive: true };
let LABELS = { district: {}, agency: {}, lebenslage: {} };

function label(kind, symbol) {
  if (symbol === "ALL") return "total";
  return (LABELS[kind] && LABELS[kind][symbol]) || symbol;
}

async function getJSON(path) {
  const response = await fetch(path, { headers: { Accept: "application/json" } });
  const body = await response.json();
  if (!response.ok) throw new Error(`${path}: ${body.error || response.status}`);
  return body;
}

function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v) q.set(k, v);
  return q.toString();
}

function layout(extra) {
  return Object.assign({ margin: { l: 60, r: 10, t: 10, b: 60 }, legend: { orientation: "h", y: -0.2 },
    font: { size: 11 }, paper_bgcolor: "#fff", plot_bgcolor: "#fff" }, extra || {});
}

function shown(row, column) {
  return row[column + "_suppressed"] ? null : row[column];
}

async function drawBacklogAge(f) {
  const body = await getJSON(`/v1/backlog/age-history?${query({ from: f.from, to: f.to, limit: 1000 })}`);
  const weeks = [...new Set(body.rows.map((r) => r.week))].sort();
  const traces = BUCKETS.map((bucket) => {
    const at = new Map(body.rows.filter((r) => r.bucket === bucket).map((r) => [r.week, shown(r, "pending")]));
    return { type: "bar", name: `${bucket} days`, x: weeks, y: weeks.map((w) => (at.has(w) ? at.get(w) : 0)) };
  });
  await Plotly.newPlot("chart-backlog-age", traces, layout({ barmode: "stack", yaxis: { title: "pending" } }), CONFIG);
}

async function drawFlow(f) {
  const body = await getJSON(`/v1/backlog/flow?${query({ from: f.from, to: f.to, limit: 1000 })}`);
  const x = body.rows.map((r) => r.week);
  const traces = [
    { type: "scatter", mode: "lines+markers", name: "filed (inflow)", x, y: body.rows.map((r) => shown(r, "inflow")) },
    { type: "scatter", mode: "lines+markers", name: "decided or withdrawn (outflow)", x,
      y: body.rows.map((r) => shown(r, "outflow")) },
  ];
  await Plotly.newPlot("chart-flow", traces, layout({ yaxis: { title: "applications per week" } }), CONFIG);
}

async function drawCases(f) {
  const body = await getJSON(`/v1/caseloads/weekly?${query({ from: f.from, to: f.to, district: f.district, limit: 1000 })}`);
  const x = body.rows.map((r) => r.week);
  const traces = [
    { type: "bar", name: "opened", x, y: body.rows.map((r) => shown(r, "opened")) },
    { type: "bar", name: "closed", x, y: body.rows.map((r) => shown(r, "closed")) },
  ];
  await Plotly.newPlot("chart-cases", traces, layout({ barmode: "group", yaxis: { title: "cases per week" } }), CONFIG);
}

async function drawReferrals(f) {
  const body = await getJSON(`/v1/referrals?${query({ from: f.from, to: f.to, limit: 1000 })}`);
  const pairs = body.rows.filter((r) => r.from_agency !== "ALL" && r.to_agency !== "ALL");
  const froms = [...new Set(pairs.map((r) => r.from_agency))].sort();
  const tos = [...new Set(pairs.map((r) => r.to_agency))].sort();
  const at = new Map(pairs.map((r) => [`${r.from_agency}|${r.to_agency}`, r]));
  const z = froms.map((a) => tos.map((b) => { const r = at.get(`${a}|${b}`); return r ? shown(r, "issued") : 0; }));
  const text = froms.map((a) => tos.map((b) => {
    const r = at.get(`${a}|${b}`);
    if (!r) return "0";
    return r.issued_suppressed ? "suppressed" : String(r.issued);
  }));
  const trace = { type: "heatmap", x: tos.map((s) => label("agency", s)), y: froms.map((s) => label("agency", s)), z, text,
    hovertemplate: "%{y} → %{x}: %{text}<extra></extra>", colorscale: [[0, "#eef4fb"], [1, "#08306b"]], hoverongaps: false,
    colorbar: { title: { text: "issued" } } };
  await Plotly.newPlot("chart-referrals", [trace],
    layout({ margin: { l: 190, r: 10, t: 10, b: 150 }, xaxis: { title: "to", tickangle: -40 }, yaxis: { title: "" } }), CONFIG);
}

async function drawDistricts(f) {
  const asOf = f.to ? `${f.to}T23:59:59Z` : "";
  const body = await getJSON(`/v1/caseloads?${query({ as_of: asOf, district: f.district, limit: 1000 })}`);
  const rows = body.rows.filter((r) => r.group_key !== "ALL");
  const x = rows.map((r) => label("district", r.group_key));
  const traces = [
    { type: "bar", name: "open cases", x, y: rows.map((r) => shown(r, "open_cases")) },
    { type: "bar", name: "waiting for a case manager", x, y: rows.map((r) => shown(r, "waiting")) },
  ];
  await Plotly.newPlot("chart-districts", traces, layout({ barmode: "group", xaxis: { tickangle: -30, automargin: true }, legend: { orientation: "h", y: 1.12 } }), CONFIG);
}

// Which goals are reached in which Lebenslage: goals that ended in the period, achieved or abandoned, and those
// still open at the end of the "to" day that are past their target date.
async function drawGoals(f) {
  const asOf = f.to ? `${f.to}T23:59:59Z` : "";
  const body = await getJSON(`/v1/outcomes?${query({ from: f.from, to: f.to, as_of: asOf, limit: 1000 })}`);
  const rows = body.rows.filter((r) => r.group_key !== "ALL");
  const x = rows.map((r) => label("lebenslage", r.group_key));
  const traces = [
    { type: "bar", name: "achieved", x, y: rows.map((r) => shown(r, "achieved")), marker: { color: "#2a7f62" } },
    { type: "bar", name: "abandoned", x, y: rows.map((r) => shown(r, "abandoned")), marker: { color: "#c2692b" } },
    { type: "bar", name: "open and overdue", x, y: rows.map((r) => shown(r, "overdue")), marker: { color: "#9aa5b1" } },
  ];
  await Plotly.newPlot("chart-goals", traces, layout({ barmode: "group", yaxis: { title: "goals" },
    xaxis: { tickangle: -30, automargin: true } }), CONFIG);
}

// Who comes back: per Stadtbezirk, the successful endings whose 12 months have passed and the clients among them
// who opened a new case within those months (linked by the key of their sealed pseudonym, never the pseudonym).
async function drawReturns(f) {
  const asOf = f.to ? `${f.to}T23:59:59Z` : "";
  const body = await getJSON(`/v1/outcomes/returns?${query({ from: f.from, to: f.to, as_of: asOf, limit: 1000 })}`);
  const rows = body.rows.filter((r) => r.group_key !== "ALL");
  const x = rows.map((r) => label("district", r.group_key));
  const traces = [
    { type: "bar", name: "successful endings, 12 months passed", x, y: rows.map((r) => shown(r, "observable_12m")) },
    { type: "bar", name: "came back within 12 months", x, y: rows.map((r) => shown(r, "returned_12m")) },
  ];
  await Plotly.newPlot("chart-returns", traces, layout({ barmode: "group", yaxis: { title: "cases" },
    xaxis: { tickangle: -30, automargin: true } }), CONFIG);
}

const LOAD_BANDS = [["load_1_10", "1-10"], ["load_11_20", "11-20"], ["load_21_30", "21-30"], ["load_31_40", "31-40"],
  ["load_over_40", "more than 40"]];

// The caseload per case manager without naming one: per agency, how many case managers carry how many open cases.
// Figures per case manager only where the analytics schema allows them (KIM_CASE_MANAGER_FIGURES): the answer
// says so in case_manager_figures, and the per-manager chart is neither asked for nor shown otherwise.
async function drawCaseManagers() {
  const body = await getJSON("/v1/caseloads/case-manager-load?limit=1000");
  const rows = body.rows.filter((r) => r.agency !== "ALL");
  const x = rows.map((r) => label("agency", r.agency));
  const traces = LOAD_BANDS.map(([column, name]) => ({ type: "bar", name: `${name} open cases`, x,
    y: rows.map((r) => shown(r, column)) }));
  await Plotly.newPlot("chart-manager-load", traces, layout({ barmode: "stack", yaxis: { title: "case managers" },
    xaxis: { automargin: true } }), CONFIG);
  const section = document.getElementById("section-managers");
  if (body.case_manager_figures !== true) {
    Plotly.purge("chart-managers");
    section.hidden = true;
    return;
  }
  section.hidden = false;
  await drawManagers();
}

async function drawManagers() {
  const body = await getJSON("/v1/caseloads/case-managers?limit=1000");
  const rows = body.rows.slice(0, 40);
  const trace = { type: "bar", name: "open cases", x: rows.map((r) => `${r.case_manager_ref} (${label("agency", r.agency)})`),
    y: rows.map((r) => shown(r, "open_cases")), marker: { color: "#2a7f62" } };
  await Plotly.newPlot("chart-managers", [trace], layout({ xaxis: { tickangle: -45, automargin: true },
    yaxis: { title: "open cases" }, showlegend: false }), CONFIG);
}

function days(value) {
  return value === null || value === undefined ? "-" : Number(value).toFixed(1);
}

function answer(id, text, data) {
  const out = document.getElementById(id);
  out.textContent = text;
  for (const [k, v] of Object.entries(data)) out.dataset[k] = v === null || v === undefined ? "" : String(v);
}

// The three questions of the steering group, from the same API rows as the charts (and as `kim query`):
// the first row of each answer is the API's own order (longest waiting list, slowest acceptance first).
async function drawAnswers(f) {
  const asOf = f.to ? `${f.to}T23:59:59Z` : "";
  const [cases, flow, backlog] = await Promise.all([
    getJSON(`/v1/caseloads?${query({ as_of: asOf, limit: 1000 })}`),
    getJSON(`/v1/referrals?${query({ from: f.from, to: f.to, limit: 1000 })}`),
    getJSON(`/v1/backlog?${query({ as_of: asOf, procedure: "AUFENTHG_25B", limit: 1000 })}`),
  ]);
  const max = cases.small_cell_max;
  const districts = cases.rows.filter((r) => r.group_key !== "ALL");
  const top = districts[0];
  const hiddenDistricts = districts.filter((r) => r.waiting_suppressed).length;
  answer("answer-waiting", top ? `${label("district", top.group_key)}: ${top.waiting_suppressed ? "suppressed" : top.waiting}`
    + ` waiting, median wait ${days(top.median_wait_days)} days` + ` (${hiddenDistricts} Stadtbezirke with a suppressed count)`
    : "no open cases", { asOf, district: top ? top.group_key : "", waiting: top ? top.waiting : "",
    suppressed: top ? top.waiting_suppressed : "", medianDays: top ? top.median_wait_days : "", hidden: hiddenDistricts });
  const pairs = flow.rows.filter((r) => r.from_agency !== "ALL" && r.to_agency !== "ALL");
  const slow = pairs.find((r) => r.median_days_to_accept !== null);
  const hiddenPairs = pairs.filter((r) => r.median_days_to_accept === null && r.accepted_suppressed).length;
  answer("answer-referral", slow ? `${label("agency", slow.from_agency)} → ${label("agency", slow.to_agency)}: median `
    + `${days(slow.median_days_to_accept)} days to acceptance (${hiddenPairs} pairs with 1 to ${max} acceptances left out)`
    : "no accepted referrals", { from: f.from, to: f.to, fromAgency: slow ? slow.from_agency : "",
    toAgency: slow ? slow.to_agency : "", medianDays: slow ? slow.median_days_to_accept : "", hidden: hiddenPairs });
  const b = backlog.rows.find((r) => r.procedure === "AUFENTHG_25B");
  const count = !b ? "0" : b.age_over_180_suppressed ? `suppressed (1 to ${max}, or hidden with one)` : String(b.age_over_180);
  const when = b && b.over_180_cleared_by ? `cleared by ${b.over_180_cleared_by}` : "no estimate";
  answer("answer-25b", `${count} at ${asOf || "now"}; ${when} at the throughput of the last 8 weeks`, { asOf,
    over180: b ? b.age_over_180 : 0, suppressed: b ? b.age_over_180_suppressed : false,
    clearedBy: b ? b.over_180_cleared_by : "" });
}

function drawFreshness(body) {
  const tbody = document.querySelector("#freshness tbody");
  tbody.replaceChildren(...body.rows.map((r) => {
    const tr = document.createElement("tr");
    for (const [value, cls] of [[r.projection, ""], [r.records_applied, "num"], [r.last_event_at || "-", ""],
      [r.updated_at || "-", ""]]) {
      const td = document.createElement("td");
      td.textContent = String(value);
      if (cls) td.className = cls;
      tr.appendChild(td);
    }
    return tr;
  }));
}

function filters() {
  return { from: document.getElementById("from").value, to: document.getElementById("to").value,
    district: document.getElementById("district").value };
}

async function drawAll() {
  document.body.dataset.ready = "false";
  const status = document.getElementById("status");
  status.textContent = "";
  const f = filters();
  const results = await Promise.allSettled([drawBacklogAge(f), drawFlow(f), drawCases(f), drawReferrals(f),
    drawDistricts(f), drawGoals(f), drawReturns(f), drawCaseManagers(), drawAnswers(f)]);
  const failed = results.filter((r) => r.status === "rejected").map((r) => r.reason.message);
  status.textContent = failed.join("; ");
  document.body.dataset.ready = failed.length ? "error" : "true";
}

async function start() {
  LABELS = await getJSON("/v1/labels");
  const select = document.getElementById("district");
  for (const [symbol, name] of Object.entries(LABELS.district)) {
    const option = document.createElement("option");
    option.value = symbol;
    option.textContent = name;
    select.appendChild(option);
  }
  const fresh = await getJSON("/v1/freshness");
  document.getElementById("threshold").textContent = String(fresh.small_cell_max);
  drawFreshness(fresh);
  const last = fresh.rows.map((r) => r.last_event_at).filter(Boolean).sort().pop();
  const to = last ? new Date(last) : new Date();
  const from = new Date(to.getTime() - 364 * 86400000);
  document.getElementById("to").value = to.toISOString().slice(0, 10);
  document.getElementById("from").value = from.toISOString().slice(0, 10);
  document.getElementById("filters").addEventListener("submit", (event) => {
    event.preventDefault();
    drawAll();
  });
  await drawAll();
}

start().catch((error) => {
  document.getElementById("status").textContent = String(error.message || error);
  document.body.dataset.ready = "error";
});
