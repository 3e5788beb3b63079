// naga's browser views: the runs table, a run's page and metric charts.
// Served by `naga ui` (data from the JSON API, live through server-sent events) and inlined by
// `naga report` (data from the JSON block with the id naga-data).
// Run records are untrusted: their text only ever goes into textContent, never into markup.
"use strict";
(function () {
  const EMBED = document.getElementById("naga-data");
  const REPORT = EMBED ? JSON.parse(EMBED.textContent) : null;
  const ROW = 24;
  const main = document.getElementById("main");
  const state = { table: null, order: null, sort: null, asc: false, selected: new Set(), where: "", columns: "", group: "", info: null };
  const COL = 9; // the first extra column in a table row (after id .. depth, tags)
  let render = null; // the current view's refresh, for live updates

  // ---- small DOM helpers: text only ----
  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    if (props) for (const [k, v] of Object.entries(props)) {
      if (k === "text") node.textContent = v == null ? "" : String(v);
      else if (k === "cls") node.className = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v);
    }
    for (const c of children) if (c != null) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return node;
  }
  const runHref = (id) => "#/run/" + encodeURIComponent(id);
  const chartHref = (ids, key) => "#/chart?runs=" + ids.map(encodeURIComponent).join(",") + (key ? "&key=" + encodeURIComponent(key) : "");
  function fmtValue(v) {
    if (v == null) return "-";
    if (typeof v === "number") return Number.isInteger(v) ? String(v) : (Math.abs(v) >= 1e5 || Math.abs(v) < 1e-3 && v !== 0 ? v.toExponential(3) : String(+v.toPrecision(5)));
    return String(v);
  }
  function fmtDuration(s) {
    if (s == null) return "-";
    if (s < 60) return s.toFixed(1) + "s";
    if (s < 3600) return Math.floor(s / 60) + "m" + String(Math.floor(s % 60)).padStart(2, "0") + "s";
    return Math.floor(s / 3600) + "h" + String(Math.floor((s % 3600) / 60)).padStart(2, "0") + "m";
  }
  function elapsed(r) {
    if (r[2] !== "running" || !r[3]) return r[4];
    const started = Date.parse(r[3]);
    return isNaN(started) ? r[4] : Math.max(0, (Date.now() - started) / 1000);
  }
  function fmtStarted(iso) {
    if (!iso) return "-";
    const d = new Date(iso);
    return isNaN(d) ? String(iso) : d.toLocaleString(undefined, { year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit" });
  }

  // ---- data: the server's API, or the report's embedded document ----
  async function api(path, params) {
    if (REPORT) return reportApi(path, params || {});
    const q = new URLSearchParams(params || {}).toString();
    const response = await fetch(path + (q ? "?" + q : ""), { credentials: "same-origin" });
    const doc = await response.json();
    if (!response.ok) throw new Error(doc.error || response.statusText);
    return doc;
  }
  function reportApi(path, params) {
    if (path === "/api/info") return { allow_edit: false, live: false, root: REPORT.title };
    if (path === "/api/runs") {
      const words = (params.where || "").toLowerCase().split(/\s+/).filter(Boolean);
      const rows = REPORT.table.rows.filter((r) => words.every((w) => r.some((c) => c != null && String(c).toLowerCase().includes(w))));
      return { ...REPORT.table, rows, total: REPORT.table.rows.length };
    }
    if (path.startsWith("/api/runs/")) {
      const run = REPORT.runs[decodeURIComponent(path.split("/")[3])];
      if (!run) throw new Error("no such run in this report");
      return run;
    }
    if (path === "/api/keys") {
      const keys = new Set();
      for (const id of (params.runs || "").split(",")) for (const k of Object.keys((REPORT.runs[id] || {}).series || {})) keys.add(k);
      return { keys: [...keys] };
    }
    if (path === "/api/summary") {
      const runs = (params.runs || "").split(",").filter((id) => REPORT.runs[id]).map((id) => {
        const r = REPORT.runs[id];
        return { id, name: r.run.name, params: r.params || {}, metrics: r.metrics || {} };
      });
      return { runs };
    }
    if (path === "/api/metrics" && params.over) {
      if (!REPORT.over || params.over !== REPORT.over.join(",")) throw new Error(REPORT.over ? "this report groups over " + REPORT.over.join(",") : "write the report with naga report --over " + params.over);
      const found = REPORT.groups[params.key];
      if (!found) throw new Error("no run in this report logged " + params.key);
      if (found.error) throw new Error(found.error);
      return found;
    }
    if (path === "/api/metrics") {
      const series = (params.runs || "").split(",").filter((id) => REPORT.runs[id]).map((id) => {
        const run = REPORT.runs[id];
        const s = run.series[params.key] || { step: [], time: [], value: [], count: 0 };
        const time = s.t0 == null ? s.time : s.time.map((t) => s.t0 + t);
        return { id, name: run.name, ...s, time };
      });
      return { key: params.key, series };
    }
    throw new Error("not in a report: " + path);
  }

  // ---- routing: #/ runs, #/run/ID, #/chart?runs=a,b&key=k ----
  function route() {
    const hash = location.hash.slice(1) || "/";
    const [path, query] = hash.split("?");
    const params = new URLSearchParams(query || "");
    main.replaceChildren();
    render = null;
    if (path.startsWith("/run/")) runPage(decodeURIComponent(path.slice(5)));
    else if (path === "/chart") chartPage(params);
    else if (path === "/parallel") parallelPage(params);
    else runsPage();
  }
  window.addEventListener("hashchange", route);

  // ---- the runs table ----
  function runsPage() {
    const filter = el("input", { id: "filter", type: "search", placeholder: REPORT ? "filter: words in any column" : "filter: failed  #tag  name:base*  lr=0.01  loss<0.3  words", value: state.where });
    const columns = el("input", { id: "columns", type: "text", placeholder: "columns: lr,loss", value: state.columns });
    const count = el("span", { cls: "count", id: "count" });
    const chartBtn = el("button", { id: "chart-selected", text: "Chart selected", disabled: "" });
    const parallelBtn = el("button", { id: "parallel-selected", text: "Parallel coordinates", disabled: "" });
    parallelBtn.addEventListener("click", () => { location.hash = "#/parallel?runs=" + [...state.selected].map(encodeURIComponent).join(","); });
    const group = el("select", { id: "group" }, el("option", { value: "", text: "no groups" }), el("option", { value: "sweep", text: "group by sweep" }), el("option", { value: "tag", text: "group by tag" }));
    group.value = state.group;
    const error = el("span", { cls: "error", id: "error" });
    const head = el("div", { cls: "trow thead", id: "thead" });
    const spacer = el("div");
    const rows = el("div", { cls: "rows", id: "rows" });
    const viewport = el("div", { cls: "viewport", id: "viewport" }, spacer, rows);
    main.append(el("div", { cls: "toolbar" }, filter, columns, group, chartBtn, parallelBtn, count, error), el("div", { cls: "table" }, head, viewport));
    let timer = null;
    const reload = () => load(false);
    filter.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(() => { state.where = filter.value; reload(); }, 150); });
    columns.addEventListener("change", () => { state.columns = columns.value; reload(); });
    group.addEventListener("change", () => { state.group = group.value; applySort(); paint(); });
    chartBtn.addEventListener("click", () => { location.hash = chartHref([...state.selected]); });
    viewport.addEventListener("scroll", () => requestAnimationFrame(paint));
    let ticking = false; // a running run is on screen: its duration moves every second
    const ticker = setInterval(() => {
      if (!document.body.contains(viewport)) clearInterval(ticker);
      else if (ticking && !viewport.matches(":active")) paint();
    }, 1000);
    window.onresize = paint;

    function template(t) {
      return "28px 96px minmax(120px,1.2fr) 110px 150px 84px 84px minmax(160px,2fr) minmax(60px,.6fr)" + " 110px".repeat(t.columns.length);
    }
    function drawHead(t) {
      const names = ["", "ID", "NAME", "STATUS", "STARTED", "DURATION", "GIT", "COMMAND", "TAGS", ...t.columns.map((c) => c.toUpperCase())];
      const sortable = [null, 0, 1, 2, 3, 4, 5, 6, null, ...t.columns.map((_, i) => COL + i)];
      head.style.gridTemplateColumns = template(t);
      head.replaceChildren(...names.map((n, i) => {
        const cell = el("div", { text: n });
        if (sortable[i] != null) {
          if (state.sort === sortable[i]) cell.className = "sorted" + (state.asc ? " asc" : "");
          cell.addEventListener("click", () => { sortBy(sortable[i]); });
        }
        return cell;
      }));
    }
    function sortBy(field) {
      if (state.sort === field) state.asc = !state.asc; else { state.sort = field; state.asc = field === 1 || field === 6; }
      applySort();
      drawHead(state.table);
      paint();
    }
    function applySort() {
      const t = state.table;
      state.order = t.rows.slice();
      if (state.sort != null) {
        const f = state.sort, dir = state.asc ? 1 : -1;
        const key = (v) => (v == null ? [0, 0] : typeof v === "number" ? [1, v] : [2, String(v).toLowerCase()]);
        state.order.sort((a, b) => {
          const x = key(a[f]), y = key(b[f]);
          return x[0] !== y[0] ? (x[0] - y[0]) * dir : x[1] < y[1] ? -dir : x[1] > y[1] ? dir : 0;
        });
      }
      if (state.group) state.order = grouped(state.order, state.group);
    }
    function grouped(rows, by) {
      // a header item, then the group's rows; a run with several tags is under each of them
      const groups = new Map();
      for (const r of rows) {
        let keys = r[8] || [];
        if (by === "sweep") keys = keys.filter((t) => t.startsWith("sweep:"));
        if (!keys.length) keys = [by === "sweep" ? "(no sweep)" : "(no tag)"];
        for (const k of keys) { if (!groups.has(k)) groups.set(k, []); groups.get(k).push(r); }
      }
      const out = [];
      for (const [name, members] of [...groups.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
        out.push({ group: name, members });
        out.push(...members);
      }
      return out;
    }
    function groupNode(item) {
      const box = el("input", { type: "checkbox" });
      box.checked = item.members.every((r) => state.selected.has(r[0]));
      box.addEventListener("change", () => {
        for (const r of item.members) box.checked ? state.selected.add(r[0]) : state.selected.delete(r[0]);
        updateSelection();
        paint();
      });
      return el("div", { cls: "trow group" }, el("div", null, box), el("div", { text: item.group + "  (" + item.members.length + " runs)" }));
    }
    function rowNode(r, t) {
      if (!Array.isArray(r)) return groupNode(r);
      const id = r[0];
      const box = el("input", { type: "checkbox" });
      box.checked = state.selected.has(id);
      box.addEventListener("change", () => { box.checked ? state.selected.add(id) : state.selected.delete(id); updateSelection(); node.classList.toggle("sel", box.checked); });
      const name = el("a", { href: runHref(id), text: r[1] });
      if (r[7]) name.style.paddingLeft = 12 * r[7] + "px";
      const node = el("div", { cls: "trow data" + (state.selected.has(id) ? " sel" : "") },
        el("div", null, box), el("div", { cls: "id" }, el("a", { href: runHref(id), text: id })), el("div", null, name),
        el("div", { cls: "st-" + String(r[2]).replace(/[^a-z]/g, ""), text: r[2] }), el("div", { text: fmtStarted(r[3]) }),
        el("div", { text: fmtDuration(elapsed(r)) }), el("div", { cls: "git", text: r[5] }), el("div", { text: r[6], title: r[6] }),
        el("div", { cls: "dim", text: (r[8] || []).join(" ") }),
        ...t.columns.map((_, i) => el("div", { text: fmtValue(r[COL + i]) })));
      node.style.gridTemplateColumns = template(t);
      return node;
    }
    function paint() {
      const t = state.table;
      if (!t || !document.body.contains(viewport)) return;
      const order = state.order;
      spacer.style.height = order.length * ROW + "px";
      viewport.style.height = Math.max(3 * ROW, Math.min(order.length * ROW + 2, window.innerHeight - 150)) + "px";
      const first = Math.max(0, Math.floor(viewport.scrollTop / ROW) - 5);
      const last = Math.min(order.length, first + Math.ceil(viewport.clientHeight / ROW) + 10);
      rows.style.top = first * ROW + "px";
      const nodes = [];
      ticking = false;
      for (let i = first; i < last; i++) {
        nodes.push(rowNode(order[i], t));
        if (Array.isArray(order[i]) && order[i][2] === "running") ticking = true;
      }
      rows.replaceChildren(...nodes);
    }
    function updateSelection() {
      chartBtn.disabled = state.selected.size === 0;
      parallelBtn.disabled = state.selected.size < 2;
      chartBtn.textContent = "Chart selected (" + state.selected.size + ")";
    }
    async function load(quick) {
      const asked = { where: state.where, columns: state.columns };
      try {
        const t = await api("/api/runs", quick ? { ...asked, limit: "300" } : asked);
        if (asked.where !== state.where || asked.columns !== state.columns) return;
        if (quick && t.complete === false && state.table && state.table.complete && state.table.rows.length > t.rows.length) {
          // keep the rows below the first 300 until the full answer comes
          const fresh = new Set(t.rows.map((r) => r[0]));
          t.rows = t.rows.concat(state.table.rows.filter((r) => !fresh.has(r[0])).slice(0, state.table.rows.length));
        }
        error.textContent = "";
        state.table = t;
        applySort();
        drawHead(t);
        paint();
        count.textContent = (t.complete ? t.rows.length : "…") + " of " + t.total + " runs";
        document.body.dataset.rows = t.complete ? String(t.rows.length) : "";
        if (quick && !t.complete) load(false);
      } catch (e) {
        error.textContent = e.message;
      }
    }
    if (REPORT) {
      // the first ten runs, or with --over every run's group (the groups hold all the runs)
      const all = REPORT.table.rows.slice(0, REPORT.over ? undefined : 10).map((r) => r[0]);
      const charts = el("div", { id: "report-chart" });
      main.append(charts);
      const over = REPORT.over ? "&over=" + encodeURIComponent(REPORT.over.join(",")) : "";
      chartPage(new URLSearchParams("runs=" + all.map(encodeURIComponent).join(",") + over), charts);
    }
    updateSelection();
    if (state.table) { applySort(); drawHead(state.table); paint(); }
    load(!state.table);
    // a live change: the top of the table at once when that is what is on screen, then the rest
    render = () => load(state.sort == null && viewport.scrollTop < 200 * ROW);
  }

  // ---- a run's page ----
  function runPage(id) {
    const box = el("div", { id: "run" });
    main.append(box);
    let logFilter = "";
    async function load() {
      let doc;
      try {
        doc = await api("/api/runs/" + encodeURIComponent(id));
      } catch (e) {
        box.replaceChildren(el("p", { cls: "error", text: e.message }));
        return;
      }
      const parts = [el("h2", null, el("span", { cls: "mono", text: doc.id }), " ", el("span", { text: doc.run.name || "" }))];
      parts.push(el("div", { cls: "toolbar" }, el("a", { href: chartHref([doc.id]), text: "Chart its metrics" })));
      if (state.info && state.info.allow_edit) parts.push(editBox(doc));
      parts.push(recordTable(doc));
      if (doc.keys && doc.keys.length) {
        parts.push(el("h3", { text: "Metric charts" }), el("div", { cls: "keys" }, ...doc.keys.map((k) => el("a", { href: chartHref([doc.id], k), text: k }))));
      }
      if (doc.artifacts && doc.artifacts.length && !REPORT) {
        const list = el("div", { cls: "artifacts" });
        for (const a of doc.artifacts) {
          const url = "/api/runs/" + encodeURIComponent(doc.id) + "/artifacts/" + a.name.split("/").map(encodeURIComponent).join("/");
          list.append(el("div", null, el("a", { href: url, text: a.name }), " ", el("span", { cls: "dim", text: fmtValue(a.bytes) + " bytes" })));
          if (a.image) list.append(el("img", { src: url, alt: a.name, loading: "lazy" }));
        }
        parts.push(el("h3", { text: "Artifacts" }), list);
      }
      if (doc.lineage) parts.push(el("h3", { text: "Lineage (run.lock)" }), lineageTree(doc.lineage));
      if (doc.patch) parts.push(el("h3", { text: "Git patch" }), el("pre", { id: "patch", text: doc.patch }));
      if (REPORT && doc.keys && doc.keys.length) {
        const chart = el("div", { cls: "chart" });
        parts.push(el("h3", { text: "Chart" }), chart);
        box.replaceChildren(...parts);
        drawChart(chart, [doc.id], doc.keys[0], { x: "step", smooth: 0, log: false });
        return;
      }
      if (!REPORT) {
        const search = el("input", { id: "log-search", type: "search", placeholder: "search the output", value: logFilter });
        const pre = el("pre", { cls: "log", id: "log" });
        const info = el("span", { cls: "dim" });
        search.addEventListener("input", () => { logFilter = search.value; drawLog(pre, info, logDoc, logFilter); });
        parts.push(el("h3", { text: "Output" }), el("div", { cls: "toolbar" }, search, info), pre);
        let logDoc = null;
        api("/api/runs/" + encodeURIComponent(id) + "/log").then((l) => { logDoc = l; drawLog(pre, info, l, logFilter); }, (e) => { pre.textContent = e.message; });
      }
      const y = window.scrollY;
      box.replaceChildren(...parts);
      window.scrollTo(0, y);
    }
    load();
    render = load;
  }
  function recordTable(doc) {
    const table = el("table", { cls: "record" });
    for (const section of doc.sections) {
      if (section.title) table.append(el("tr", null, el("td", { colspan: "2" }, el("h3", { text: section.title }))));
      for (const row of section.rows) {
        const cell = el("td");
        for (const [text, look] of row.spans) {
          const span = el("span", { text });
          if (look) span.className = look.split(/\s+/).map((l) => "l-" + l.replace(/[^a-z]/g, "")).join(" ");
          cell.append(span);
        }
        table.append(el("tr", null, el("td", { cls: "label", text: row.label == null ? "" : row.label }), cell));
      }
    }
    return table;
  }
  function drawLog(pre, info, doc, needle) {
    if (!doc) return;
    const lower = needle.toLowerCase();
    const frag = document.createDocumentFragment();
    let shown = 0;
    for (const line of doc.lines) {
      const text = line.map((s) => s[0]).join("");
      if (lower && !text.toLowerCase().includes(lower)) continue;
      shown++;
      for (const [t, cls] of line) {
        if (lower && t.toLowerCase().includes(lower)) {
          const span = el("span", { cls });
          let at = 0;
          const low = t.toLowerCase();
          for (let i = low.indexOf(lower); i >= 0; i = low.indexOf(lower, at)) {
            span.append(t.slice(at, i), el("mark", { text: t.slice(i, i + lower.length) }));
            at = i + lower.length;
          }
          span.append(t.slice(at));
          frag.append(span);
        } else frag.append(cls ? el("span", { cls, text: t }) : document.createTextNode(t));
      }
      frag.append("\n");
    }
    pre.replaceChildren(frag);
    info.textContent = (lower ? shown + " matching lines of " : "") + doc.lines.length + " lines" + (doc.truncated ? " (the end of " + doc.bytes + " bytes)" : "");
    if (!lower) pre.scrollTop = pre.scrollHeight;
  }
  function lineageTree(node) {
    const label = [node.run_id || "", node.name ? "(" + node.name + ")" : "", node.status || "", node.path || "", node.problem || "", node.repeated ? "(above)" : ""].filter(Boolean).join("  ");
    const item = el("li", { text: label });
    if (node.inputs && node.inputs.length) item.append(el("ul", { cls: "lineage" }, ...node.inputs.map(lineageTree)));
    return el("ul", { cls: "lineage" }, item);
  }
  function editBox(doc) {
    const name = el("input", { type: "text", placeholder: "new name", value: doc.run.name || "" });
    const tag = el("input", { type: "text", placeholder: "tag" });
    const msg = el("span", { cls: "error" });
    const post = async (action, value) => {
      const r = await fetch("/api/runs/" + encodeURIComponent(doc.id) + "/edit", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ action, value }) });
      const answer = await r.json();
      msg.textContent = r.ok ? "" : answer.error;
      if (r.ok && action === "delete") location.hash = "#/";
      else if (render) render();
    };
    const note = el("textarea", { id: "note-edit", rows: "2", placeholder: "a note (naga note)" });
    note.value = typeof doc.run.note === "string" ? doc.run.note : "";
    return el("div", { cls: "edit" }, name, el("button", { text: "Rename", onclick: () => post("rename", name.value) }), tag,
      el("button", { text: "Add tag", onclick: () => post("tag", tag.value) }), el("button", { text: "Remove tag", onclick: () => post("untag", tag.value) }),
      el("button", { text: "Delete run", onclick: () => { if (confirm("Delete run " + doc.id + "?")) post("delete", null); } }),
      el("div", { cls: "edit note-edit" }, note, el("button", { id: "note-save", text: "Save note", onclick: () => post("note", note.value) }),
        el("button", { id: "note-clear", text: "Clear note", onclick: () => post("note", null) })), msg);
  }

  // ---- metric charts ----
  function chartPage(params, where) {
    const into = where || main;
    const ids = (params.get("runs") || "").split(",").filter(Boolean);
    if (!ids.length && state.selected.size) ids.push(...state.selected);
    const opts = { x: params.get("x") || "step", smooth: +(params.get("smooth") || 0), log: params.get("log") === "1", over: params.get("over") || "" };
    const keySel = el("select", { id: "key" });
    const xSel = el("select", { id: "x" }, el("option", { value: "step", text: "step" }), el("option", { value: "time", text: "time" }));
    xSel.value = opts.x;
    const smooth = el("input", { id: "smooth", type: "range", min: "0", max: "0.99", step: "0.01", value: String(opts.smooth) });
    const log = el("input", { id: "log", type: "checkbox" });
    log.checked = opts.log;
    const over = el("input", { id: "over", type: "text", size: "8", placeholder: "seed", value: opts.over, title: "mean and 95% band of runs that differ only in these params" });
    const chart = el("div", { cls: "chart", id: "chart" });
    const note = el("span", { cls: "dim" });
    into.append(el("h2", { text: ids.length ? "Metrics of " + ids.length + " run" + (ids.length > 1 ? "s" : "") : "Select runs in the table first" }),
      el("div", { cls: "toolbar" }, "metric ", keySel, " x ", xSel, " smoothing ", smooth, el("label", null, log, " log scale"), " mean over ", over, note), chart);
    if (!ids.length) return;
    let key = params.get("key");
    const redraw = () => { opts.x = xSel.value; opts.smooth = +smooth.value; opts.log = log.checked; opts.over = over.value.trim(); key = keySel.value; drawChart(chart, ids, key, opts, note); };
    for (const c of [keySel, xSel, log, over]) c.addEventListener("change", redraw);
    smooth.addEventListener("change", redraw);
    api("/api/keys", { runs: ids.join(",") }).then((doc) => {
      if (!doc.keys.length) { note.textContent = "these runs logged no metrics"; return; }
      keySel.replaceChildren(...doc.keys.map((k) => el("option", { value: k, text: k })));
      keySel.value = key && doc.keys.includes(key) ? key : doc.keys[0];
      redraw();
    }, (e) => { note.textContent = e.message; });
    if (!where) render = () => drawChart(chart, ids, keySel.value, opts, note, true);
  }
  const PALETTE = ["#2462c5", "#d1495b", "#1a7f37", "#edae49", "#6f42c1", "#00798c", "#e36414", "#5c677d", "#b5179e", "#3d405b"];
  function ema(values, alpha) {
    if (!alpha) return values;
    let last = null;
    return values.map((v) => (v == null ? null : (last = last == null ? v : alpha * last + (1 - alpha) * v)));
  }
  async function drawChart(box, ids, key, opts, note, keepZoom) {
    let doc;
    try {
      doc = await api("/api/metrics", opts.over ? { runs: ids.join(","), key, over: opts.over } : { runs: ids.join(","), key });
    } catch (e) {
      if (note) note.textContent = e.message;
      return;
    }
    if (doc.groups) { drawGroups(box, doc, opts, note, keepZoom); return; }
    const tables = doc.series.map((s) => {
      const xs = opts.x === "time" ? s.time : s.step;
      const pairs = xs.map((x, i) => [x, s.value[i]]).sort((a, b) => a[0] - b[0]);
      const dedup = [];
      for (const p of pairs) if (!dedup.length || dedup[dedup.length - 1][0] !== p[0]) dedup.push(p); else dedup[dedup.length - 1] = p;
      const ys = ema(dedup.map((p) => (opts.log && p[1] != null && p[1] <= 0 ? null : p[1])), opts.smooth);
      return [dedup.map((p) => p[0]), ys];
    });
    const data = tables.length ? uPlot.join(tables) : [[]];
    const old = box._plot;
    const zoom = keepZoom && old ? { min: old.scales.x.min, max: old.scales.x.max } : null;
    if (old) old.destroy();
    const series = [{ label: opts.x }, ...doc.series.map((s, i) => ({ label: s.id + (s.name ? " " + s.name : ""), stroke: PALETTE[i % PALETTE.length], width: 1.5, spanGaps: true, points: { show: false } }))];
    const plot = new uPlot({
      width: Math.max(400, box.clientWidth || main.clientWidth - 32), height: 420, series,
      scales: { x: { time: opts.x === "time" }, y: { distr: opts.log ? 3 : 1 } },
      axes: [{ label: opts.x }, { label: doc.key }],
      cursor: { drag: { x: true, y: false } },
    }, data, box);
    if (zoom && zoom.min != null) plot.setScale("x", zoom);
    box._plot = plot;
    box.dataset.series = String(doc.series.length);
    delete box.dataset.groups;
    box.dataset.points = String(data[0].length);
    if (note) note.textContent = doc.series.map((s) => s.count).reduce((a, b) => a + b, 0) + " points, " + data[0].length + " drawn";
  }

  function drawGroups(box, doc, opts, note, keepZoom) {
    // each group: its mean as a line and its 95% interval as a band between two faint lines,
    // over the steps every run of the group logged (the seeds' statistics, analysis.seeds)
    const clip = (v) => (opts.log && v != null && v <= 0 ? null : v);
    const tables = [], series = [{ label: "step" }], bands = [];
    doc.groups.forEach((g, i) => {
      const colour = PALETTE[i % PALETTE.length];
      const name = g.label + " (n=" + g.n + ")";
      tables.push([g.step, ema(g.mean.map(clip), opts.smooth)]);
      series.push({ label: name, stroke: colour, width: 2, spanGaps: true, points: { show: false } });
      if (g.low && g.high) {
        const at = series.length;
        tables.push([g.step, g.high.map(clip)], [g.step, g.low.map(clip)]);
        for (const end of ["95% high", "95% low"]) series.push({ label: name + " " + end, stroke: colour + "55", width: 0.5, spanGaps: true, points: { show: false } });
        bands.push({ series: [at, at + 1], fill: colour + "33" });
      }
    });
    const data = tables.length ? uPlot.join(tables) : [[]];
    const old = box._plot;
    const zoom = keepZoom && old ? { min: old.scales.x.min, max: old.scales.x.max } : null;
    if (old) old.destroy();
    const plot = new uPlot({
      width: Math.max(400, box.clientWidth || main.clientWidth - 32), height: 420, series, bands,
      scales: { x: { time: false }, y: { distr: opts.log ? 3 : 1 } },
      axes: [{ label: "step" }, { label: doc.key }],
      cursor: { drag: { x: true, y: false } },
    }, data, box);
    if (zoom && zoom.min != null) plot.setScale("x", zoom);
    box._plot = plot;
    box.dataset.series = String(series.length - 1);
    box.dataset.groups = String(doc.groups.length);
    box.dataset.points = String(data[0].length);
    if (note) note.textContent = doc.groups.length + " groups over " + doc.over.join(",") + " (mean, 95% band), by step";
  }

  // ---- parallel coordinates: each run a line through its params, ending at a metric ----
  function parallelPage(params) {
    const ids = (params.get("runs") || "").split(",").filter(Boolean);
    const metricSel = el("select", { id: "pc-metric" });
    const canvas = el("canvas", { id: "parallel", width: "1100", height: "460" });
    const note = el("span", { cls: "dim" });
    main.append(el("h2", { text: "Parallel coordinates of " + ids.length + " runs" }), el("div", { cls: "toolbar" }, "colour and last axis ", metricSel, note), canvas);
    let runs = [];
    const draw = () => { drawParallel(canvas, runs, metricSel.value); note.textContent = canvas.dataset.axes ? canvas.dataset.axes + " axes" : ""; };
    metricSel.addEventListener("change", draw);
    const load = async () => {
      runs = (await api("/api/summary", { runs: ids.join(",") })).runs;
      const metrics = [...new Set(runs.flatMap((r) => Object.keys(r.metrics)))];
      const keep = metricSel.value || params.get("metric");
      metricSel.replaceChildren(...metrics.map((k) => el("option", { value: k, text: k })));
      if (keep && metrics.includes(keep)) metricSel.value = keep;
      draw();
    };
    load().catch((e) => { note.textContent = e.message; });
    render = load;
  }
  function drawParallel(canvas, runs, metric) {
    const ctx = canvas.getContext("2d");
    const W = canvas.width, H = canvas.height, top = 40, bottom = H - 30;
    ctx.clearRect(0, 0, W, H);
    // axes: params whose values differ between the runs, then the metric
    const keys = [...new Set(runs.flatMap((r) => Object.keys(r.params)))].filter((k) => new Set(runs.map((r) => JSON.stringify(r.params[k]))).size > 1);
    const axes = keys.map((k) => ({ label: k, get: (r) => r.params[k] }));
    if (metric) axes.push({ label: metric, get: (r) => r.metrics[metric] });
    canvas.dataset.axes = String(axes.length);
    if (axes.length < 2) { ctx.fillText("fewer than two axes: the runs' params do not differ", 20, 30); return; }
    const scales = axes.map((a) => {
      const vals = runs.map(a.get).filter((v) => v != null);
      if (vals.every((v) => typeof v === "number")) {
        const lo = Math.min(...vals), hi = Math.max(...vals);
        return { pos: (v) => (v == null ? null : hi === lo ? 0.5 : (v - lo) / (hi - lo)), ticks: [[lo, 0], [hi, 1]] };
      }
      const cats = [...new Set(vals.map(String))].sort();
      return { pos: (v) => (v == null ? null : cats.length === 1 ? 0.5 : cats.indexOf(String(v)) / (cats.length - 1)), ticks: cats.map((c, i) => [c, cats.length === 1 ? 0.5 : i / (cats.length - 1)]) };
    });
    const x = (i) => 60 + (i * (W - 140)) / (axes.length - 1);
    const y = (p) => bottom - p * (bottom - top);
    const last = scales[scales.length - 1];
    for (const r of runs) {
      const c = last.pos(axes[axes.length - 1].get(r));
      ctx.strokeStyle = c == null ? "#bbb" : "hsl(" + Math.round(240 - 240 * c) + ",70%,45%)";
      ctx.lineWidth = 1.5;
      ctx.beginPath();
      let pen = false;
      axes.forEach((a, i) => {
        const p = scales[i].pos(a.get(r));
        if (p == null) { pen = false; return; }
        if (pen) ctx.lineTo(x(i), y(p)); else ctx.moveTo(x(i), y(p));
        pen = true;
      });
      ctx.stroke();
    }
    ctx.fillStyle = "#1d232a";
    ctx.font = "12px system-ui, sans-serif";
    axes.forEach((a, i) => {
      ctx.strokeStyle = "#6b7480";
      ctx.lineWidth = 1;
      ctx.beginPath(); ctx.moveTo(x(i), top); ctx.lineTo(x(i), bottom); ctx.stroke();
      ctx.textAlign = "center";
      ctx.fillText(String(a.label).slice(0, 40), x(i), top - 14);
      ctx.textAlign = "left";
      for (const [label, p] of scales[i].ticks) ctx.fillText(fmtValue(label).slice(0, 24), x(i) + 4, y(p) + 4);
    });
  }

  // ---- live: the server says the store changed; the view asks again ----
  function live() {
    const badge = document.getElementById("live");
    if (REPORT) { badge.textContent = "report, " + (REPORT.created || ""); return; }
    const source = new EventSource("/api/events");
    let first = true, pending = false, busy = false;
    const refresh = async () => {
      if (busy) { pending = true; return; }
      busy = true;
      try { if (render) await render(); } finally { busy = false; }
      if (pending) { pending = false; refresh(); }
    };
    source.addEventListener("version", (e) => {
      badge.textContent = "live";
      document.body.dataset.version = e.data;
      if (first) { first = false; return; }
      refresh();
    });
    source.onerror = () => { badge.textContent = "reconnecting…"; };
  }

  async function start() {
    try { state.info = await api("/api/info"); } catch (e) { state.info = { allow_edit: false }; }
    document.getElementById("where").textContent = state.info.root || "";
    live();
    route();
  }
  start();
})();
