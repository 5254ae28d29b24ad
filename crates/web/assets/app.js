// netoproc's agent page. Reads the agent's JSON APIs once a second
// (/api/v1/snapshot, /api/v1/interfaces) and, on the History tab, the
// history API; draws tables, per-row sparklines and the history chart.
// Every text from outside (process names, command lines, DNS names,
// addresses) enters the page through text nodes (`el`, `textContent`),
// never as markup: this file builds no HTML from strings.
"use strict";
(function () {
  const POLL_MS = 1000;
  const SPARK_POINTS = 60;
  const MAX_QUERIES = 200;
  const HISTORY_LIMIT = 10;
  const HISTORY_REFRESH_MS = 60000;
  const PALETTE = ["#1f6feb", "#e8590c", "#2f9e44", "#ae3ec9", "#f08c00",
    "#0c8599", "#c2255c", "#5c940d", "#6741d9", "#868e96", "#adb5bd"];

  // Counters of data lost (the rest of `meta.lost` is traffic seen but not
  // tied to a process: coverage, shown on the health tab, not an alarm).
  const LOSS_KEYS = ["ringbuf_events", "socket_storage_failures", "socket_map_full",
    "peer_map_full", "ring_records_undecodable", "kretprobe_misses", "capture_drops",
    "dns_packets_dropped"];

  // Errors of the page itself (a failed load, an exception, a blocked
  // resource): shown in the header and kept for tests in
  // `window.__npErrors`, whichever browser runs the page.
  const pageErrors = [];
  window.__npErrors = pageErrors;
  function pageError(what) {
    pageErrors.push(String(what));
    showError("page error: " + what);
  }
  window.addEventListener("error", (e) => {
    const t = e.target;
    if (t && t !== window && (t.src || t.href)) pageError("could not load " + (t.src || t.href));
    else pageError(e.message || "error");
  }, true);
  window.addEventListener("unhandledrejection", (e) => pageError(e.reason && e.reason.message ? e.reason.message : String(e.reason)));
  document.addEventListener("securitypolicyviolation", (e) =>
    pageError(`blocked by the page's policy: ${e.violatedDirective} ${e.blockedURI}`));

  const state = {
    tab: "processes",
    filter: "",
    sort: {
      processes: { key: "rate", desc: true },
      connections: { key: "rate", desc: true },
      resolvers: { key: "queries", desc: true },
      failing: { key: "count", desc: true },
      queries: { key: "order", desc: false },
      interfaces: { key: "rate", desc: true },
      talkers: { key: "total", desc: true },
    },
    snap: null,
    readAt: null, // ms, the agent's read time of `snap`
    prev: new Map(), // row key -> {tx, rx, at}
    rates: new Map(), // row key -> {tx, rx} bytes/s
    spark: new Map(), // row key -> [total rate, ...]
    ifaces: null,
    ifacePrev: null,
    wirePrev: null,
    history: { since: "1h", until: null, groupBy: "process", selected: null, data: null, fetchedAt: 0 },
    chart: null,
    renders: 0,
  };

  // ---- small helpers ------------------------------------------------------

  // A new element; strings among `children` become text nodes.
  function el(tag, props, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (v === undefined || v === null) continue;
      if (k === "class") e.className = v;
      else if (k === "title") e.title = v;
      else if (k === "onclick") e.addEventListener("click", v);
      else e.setAttribute(k, String(v));
    }
    for (const c of children) {
      if (c === undefined || c === null) continue;
      e.append(c instanceof Node ? c : String(c));
    }
    return e;
  }

  // A byte count shown short, exact on hover.
  function exact(n) {
    return el("span", { title: n === undefined || n === null ? "" : num(n) + " bytes", "data-bytes": n ?? "" }, bytes(n));
  }

  function bytes(n) {
    if (n === undefined || n === null || !isFinite(n)) return "–";
    const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let i = 0;
    let v = Math.abs(n);
    while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
    const s = i === 0 ? String(Math.round(v)) : v.toFixed(v < 10 ? 2 : 1);
    return (n < 0 ? "-" : "") + s + " " + units[i];
  }
  const rate = (n) => (n === undefined ? "–" : bytes(n) + "/s");
  const num = (n) => (n === undefined || n === null ? "–" : Number(n).toLocaleString("en-US"));
  const ms = (n) => (n === undefined || n === null ? "–" : Number(n).toFixed(1) + " ms");
  const pct = (x) => (x === undefined || x === null || !isFinite(x) ? "–" : (100 * x).toFixed(1) + " %");

  // Case-insensitive substring match over `fields`, as the live view's `/`.
  function matches(fields) {
    const f = state.filter;
    if (!f) return true;
    return fields.some((v) => v !== undefined && v !== null && String(v).toLowerCase().includes(f));
  }

  function addr(a) {
    return a === undefined || a === null ? "*" : String(a);
  }

  // The workload a process runs for, as the other outputs label it
  // (`docker:web`, `k8s:default/web-0`, `podman:…`, `lxc:…`, a systemd
  // unit, `session-3`; empty for a host process).
  function workloadLabel(w) {
    if (!w || !w.kind) return "";
    const short = (id) => String(id || "").slice(0, 12);
    switch (w.kind) {
      case "docker": return "docker:" + (w.name || short(w.id));
      case "podman": return "podman:" + (w.name || short(w.id));
      case "kubernetes":
        if (w.pod_name) return "k8s:" + (w.namespace ? w.namespace + "/" : "") + w.pod_name;
        return "k8s:" + short(w.container_id);
      case "lxc": return "lxc:" + w.name;
      case "service": return w.unit || "";
      case "session": return "session-" + w.session;
      default: return "";
    }
  }

  function identityOf(p) {
    const w = p.identity && p.identity.workload;
    const label = workloadLabel(w);
    if (label) return label;
    const parts = [p.pod, p.container, p.service].filter((x) => x);
    return parts.join(" · ");
  }

  // The whole chain, for a row's tooltip: process → workload → pod, the
  // cgroup and the command line.
  function chainOf(p) {
    const id = p.identity || {};
    const w = id.workload || {};
    const lines = [`${p.process} (pid ${p.pid}${id.container_pid ? ", " + id.container_pid + " in its container" : ""})`];
    const label = workloadLabel(w);
    if (label) lines.push("→ " + label + (w.id || w.container_id ? " (" + (w.id || w.container_id) + ")" : ""));
    if (w.kind === "kubernetes") lines.push("→ pod " + (w.pod_name || w.pod_uid));
    if (id.cgroup) lines.push("cgroup " + id.cgroup);
    if (p.cmdline) lines.push(p.cmdline);
    return lines.join("\n");
  }

  function userOf(p) {
    const name = p.identity && p.identity.user;
    if (name) return String(name);
    if (p.user) return String(p.user);
    return p.uid === undefined || p.uid === null ? "?" : String(p.uid);
  }

  function sparkline(values) {
    const w = 90, h = 18;
    const ns = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(ns, "svg");
    svg.setAttribute("width", w);
    svg.setAttribute("height", h);
    svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
    if (values && values.length > 1) {
      const max = Math.max(...values, 1);
      const step = w / (SPARK_POINTS - 1);
      const off = SPARK_POINTS - values.length;
      const pts = values.map((v, i) =>
        `${((off + i) * step).toFixed(1)},${(h - 1 - (v / max) * (h - 2)).toFixed(1)}`);
      const line = document.createElementNS(ns, "polyline");
      line.setAttribute("points", pts.join(" "));
      svg.append(line);
    }
    return svg;
  }

  // ---- tables -------------------------------------------------------------

  // Draws `rows` into `table` with `columns` ({key, label, num, value(row),
  // cell(row)}), sorted by the table's sort state; a header click sorts.
  function drawTable(table, name, columns, rows, rowProps) {
    const sort = state.sort[name];
    if (sort) {
      const col = columns.find((c) => c.key === sort.key) || columns[0];
      const val = col.value || ((r) => r[col.key]);
      rows = rows.slice().sort((a, b) => {
        const x = val(a), y = val(b);
        let d;
        if (typeof x === "number" && typeof y === "number") d = x - y;
        else d = String(x ?? "").localeCompare(String(y ?? ""));
        return sort.desc ? -d : d;
      });
    }
    const head = el("tr", {}, ...columns.map((c) => {
      const classes = [c.num ? "num" : "", sort ? "sortable" : "",
        sort && sort.key === c.key ? "sorted " + (sort.desc ? "desc" : "asc") : ""];
      const th = el("th", { class: classes.join(" ").trim(), "data-key": c.key }, c.label);
      if (sort) {
        th.addEventListener("click", () => {
          if (sort.key === c.key) sort.desc = !sort.desc;
          else { sort.key = c.key; sort.desc = !!c.num; }
          render();
        });
      }
      return th;
    }));
    const body = rows.map((r) => {
      const props = rowProps ? rowProps(r) : {};
      return el("tr", props, ...columns.map((c) => {
        const v = c.cell ? c.cell(r) : r[c.key];
        const cls = [c.num ? "num" : "", c.cls ? c.cls(r) : ""].join(" ").trim();
        return el("td", { class: cls || null }, v instanceof Node ? v : String(v ?? ""));
      }));
    });
    if (!rows.length) {
      body.push(el("tr", {}, el("td", { colspan: columns.length, class: "muted" },
        state.filter ? "no rows match the filter" : "nothing yet")));
    }
    table.replaceChildren(el("thead", {}, head), el("tbody", {}, ...body));
  }

  // ---- live data ----------------------------------------------------------

  function processKey(p) { return "p" + p.pid + ":" + (p.start_time_ns ?? ""); }
  function connectionKey(c) { return "c" + c.cookie + ":" + addr(c.remote); }

  // Per-row rates from the difference with the previous read.
  function updateRates(snap, readAt) {
    const seen = new Set();
    const rows = [];
    for (const p of snap.processes || []) rows.push([processKey(p), p]);
    for (const c of snap.connections || []) rows.push([connectionKey(c), c]);
    for (const [key, r] of rows) {
      seen.add(key);
      const prev = state.prev.get(key);
      if (prev && readAt > prev.at) {
        const dt = (readAt - prev.at) / 1000;
        const tx = Math.max(0, (r.tx_bytes - prev.tx) / dt);
        const rx = Math.max(0, (r.rx_bytes - prev.rx) / dt);
        state.rates.set(key, { tx, rx });
        const s = state.spark.get(key) || [];
        s.push(tx + rx);
        if (s.length > SPARK_POINTS) s.shift();
        state.spark.set(key, s);
      }
      state.prev.set(key, { tx: r.tx_bytes, rx: r.rx_bytes, at: readAt });
    }
    for (const k of [...state.prev.keys()]) {
      if (!seen.has(k)) { state.prev.delete(k); state.rates.delete(k); state.spark.delete(k); }
    }
  }

  function readTime(meta) {
    const start = Date.parse(meta.started_at);
    return isFinite(start) ? start + (meta.duration_s || 0) * 1000 : Date.now();
  }

  async function getJson(path) {
    const r = await fetch(path, { headers: { Accept: "application/json" }, cache: "no-store" });
    let body = null;
    try { body = await r.json(); } catch (e) { body = null; }
    if (!r.ok) {
      const why = body && body.error ? body.error : "HTTP " + r.status;
      throw new Error(path + ": " + why);
    }
    return body;
  }

  async function poll() {
    try {
      const [snap, ifaces] = await Promise.all([
        getJson("/api/v1/snapshot"),
        getJson("/api/v1/interfaces"),
      ]);
      const at = readTime(snap.meta);
      if (state.readAt === null || at !== state.readAt) {
        updateRates(snap, at);
        updateInterfaces(ifaces, snap, at);
      }
      state.snap = snap;
      state.ifaces = ifaces;
      state.readAt = at;
      showError(null);
    } catch (e) {
      showError("agent not answering: " + e.message);
    }
    render();
    setTimeout(poll, POLL_MS);
  }

  function showError(msg) {
    const e = document.getElementById("error");
    if (!msg && pageErrors.length) msg = "page error: " + pageErrors[pageErrors.length - 1];
    e.hidden = !msg;
    e.textContent = msg || "";
  }

  // ---- views --------------------------------------------------------------

  function renderHeader() {
    const snap = state.snap;
    if (!snap) return;
    const m = snap.meta;
    const host = state.ifaces && state.ifaces.host ? state.ifaces.host + " · " : "";
    document.getElementById("host").textContent =
      `${host}${m.capture_mode}${m.hooks ? " (" + m.hooks + ")" : ""} · kernel ${m.kernel}`;
    const losses = Object.entries(m.lost || {}).filter(([k, v]) => v > 0 && LOSS_KEYS.includes(k));
    const degraded = (m.degraded || []).length;
    const badge = document.getElementById("health");
    if (losses.length) {
      badge.className = "badge bad";
      badge.textContent = "losing data: " + losses.map(([k]) => k).join(", ");
    } else if (degraded) {
      badge.className = "badge warn";
      badge.textContent = `capturing, ${degraded} degraded`;
    } else {
      badge.className = "badge ok";
      badge.textContent = "capturing";
    }
    document.getElementById("updated").textContent =
      "read " + new Date(state.readAt).toLocaleTimeString();
  }

  function renderProcesses() {
    const snap = state.snap;
    if (!snap) return;
    const rows = (snap.processes || []).filter((p) => matches([
      p.process, p.cmdline, p.pid, identityOf(p), userOf(p), p.identity && p.identity.cgroup,
    ])).map((p) => {
      const key = processKey(p);
      const r = state.rates.get(key) || { tx: 0, rx: 0 };
      return Object.assign({}, p, { key, rate_tx: r.tx, rate_rx: r.rx, rate: r.tx + r.rx,
        identity: identityOf(p), who: userOf(p) });
    });
    const t = snap.total || {};
    document.getElementById("processes-summary").textContent =
      `${rows.length} of ${(snap.processes || []).length} processes · sent ${bytes(t.tx_bytes)}, received ${bytes(t.rx_bytes)} since the agent started`;
    drawTable(document.getElementById("processes"), "processes", [
      { key: "process", label: "process", cell: (p) => el("span", { title: chainOf(p) }, p.process) },
      { key: "pid", label: "pid", num: true },
      { key: "who", label: "user" },
      { key: "identity", label: "service / container / pod" },
      { key: "rate_tx", label: "sending", num: true, cell: (p) => rate(p.rate_tx) },
      { key: "rate_rx", label: "receiving", num: true, cell: (p) => rate(p.rate_rx) },
      { key: "rate", label: "last minute", value: (p) => p.rate,
        cell: (p) => el("span", { class: "spark" }, sparkline(state.spark.get(p.key))) },
      { key: "tx_bytes", label: "sent", num: true, cell: (p) => exact(p.tx_bytes) },
      { key: "rx_bytes", label: "received", num: true, cell: (p) => exact(p.rx_bytes) },
      { key: "sockets", label: "sockets", num: true },
    ], rows, (p) => ({ "data-pid": p.pid, "data-process": p.process }));
  }

  function renderConnections() {
    const snap = state.snap;
    if (!snap) return;
    const all = snap.connections || [];
    const rows = all.filter((c) => matches([
      c.process, c.pid, c.protocol, c.state, addr(c.local), addr(c.remote), c.remote_host,
      c.container,
    ])).map((c) => {
      const key = connectionKey(c);
      const r = state.rates.get(key) || { tx: 0, rx: 0 };
      return Object.assign({}, c, { key, rate: r.tx + r.rx, rate_tx: r.tx, rate_rx: r.rx,
        peer: c.remote_host ? `${c.remote_host} (${addr(c.remote)})` : addr(c.remote),
        proto: `${c.protocol}${c.family === "ipv6" ? "6" : ""}` });
    });
    document.getElementById("connections-summary").textContent =
      `${rows.length} of ${all.length} connections`;
    drawTable(document.getElementById("connections"), "connections", [
      { key: "process", label: "process" },
      { key: "pid", label: "pid", num: true },
      { key: "proto", label: "proto" },
      { key: "local", label: "local", value: (c) => addr(c.local), cell: (c) => addr(c.local) },
      { key: "peer", label: "remote" },
      { key: "state", label: "state" },
      { key: "rate_tx", label: "sending", num: true, cell: (c) => rate(c.rate_tx) },
      { key: "rate_rx", label: "receiving", num: true, cell: (c) => rate(c.rate_rx) },
      { key: "rate", label: "last minute", value: (c) => c.rate,
        cell: (c) => el("span", { class: "spark" }, sparkline(state.spark.get(c.key))) },
      { key: "tx_bytes", label: "sent", num: true, cell: (c) => exact(c.tx_bytes) },
      { key: "rx_bytes", label: "received", num: true, cell: (c) => exact(c.rx_bytes) },
    ], rows, (c) => ({ "data-pid": c.pid, "data-process": c.process }));
  }

  function failuresOf(f) {
    return f ? (f.nxdomain || 0) + (f.servfail || 0) + (f.refused || 0) + (f.timeout || 0) + (f.other || 0) : 0;
  }

  function outcome(q) {
    if (q.status === "answered") return q.rcode || "answered";
    return q.status || "?";
  }

  function renderDns() {
    const dns = state.snap && state.snap.dns;
    if (!dns) {
      for (const id of ["resolvers", "failing", "queries"]) {
        document.getElementById(id).replaceChildren(el("tr", {}, el("td", { class: "muted" },
          "DNS capture is off in this agent")));
      }
      return;
    }
    const resolvers = (dns.resolvers || []).filter((r) => matches([r.resolver]))
      .map((r) => Object.assign({}, r, {
        nxdomain: r.failures ? r.failures.nxdomain || 0 : 0,
        failed: failuresOf(r.failures) - (r.failures ? r.failures.nxdomain || 0 : 0),
      }));
    drawTable(document.getElementById("resolvers"), "resolvers", [
      { key: "resolver", label: "resolver" },
      { key: "queries", label: "queries", num: true, cell: (r) => num(r.queries) },
      { key: "answered", label: "answered", num: true, cell: (r) => num(r.answered) },
      { key: "nxdomain", label: "no such name", num: true, cell: (r) => num(r.nxdomain) },
      { key: "failed", label: "failed", num: true, cell: (r) => num(r.failed),
        cls: (r) => (r.failed ? "nonzero" : "") },
      { key: "failure_rate", label: "failure rate", num: true, cell: (r) => pct(r.failure_rate) },
      { key: "p50_ms", label: "p50", num: true, cell: (r) => ms(r.p50_ms) },
      { key: "p99_ms", label: "p99", num: true, cell: (r) => ms(r.p99_ms) },
      { key: "pending", label: "pending", num: true, cell: (r) => num(r.pending) },
    ], resolvers);

    const queries = (dns.queries || []).filter((q) => matches([
      q.name, q.process, q.pid, q.type, outcome(q), q.resolver,
    ]));
    const failing = new Map();
    for (const q of queries) {
      const o = outcome(q);
      if (o === "NOERROR" || o === "answered" || o === "pending") continue;
      const k = q.name + "\u0000" + o;
      const f = failing.get(k) || { name: q.name, outcome: o, count: 0, processes: new Set() };
      f.count++;
      f.processes.add(q.process);
      failing.set(k, f);
    }
    drawTable(document.getElementById("failing"), "failing", [
      { key: "name", label: "name" },
      { key: "outcome", label: "outcome" },
      { key: "count", label: "queries", num: true },
      { key: "who", label: "processes" },
    ], [...failing.values()].map((f) => Object.assign(f, { who: [...f.processes].join(", ") })));

    const recent = queries.slice(-MAX_QUERIES).reverse().map((q, i) =>
      Object.assign({}, q, { order: i, result: outcome(q) }));
    drawTable(document.getElementById("queries"), "queries", [
      { key: "name", label: "name" },
      { key: "type", label: "type" },
      { key: "result", label: "outcome", cls: (q) => (q.result === "NOERROR" || q.result === "answered" ? "" : "nonzero") },
      { key: "latency_ms", label: "latency", num: true, cell: (q) => ms(q.latency_ms) },
      { key: "process", label: "process" },
      { key: "pid", label: "pid", num: true },
      { key: "resolver", label: "resolver" },
    ], recent);
  }

  // Interface rates, and the attributed share: netoproc's wire bytes over
  // the interfaces' bytes in the same interval.
  function updateInterfaces(ifaces, snap, at) {
    const now = new Map((ifaces.interfaces || []).map((i) => [i.name, i]));
    const total = snap.total || {};
    const wire = (total.tx_wire_bytes || 0) + (total.rx_wire_bytes || 0);
    if (state.ifacePrev && at > state.ifacePrev.at) {
      const dt = (at - state.ifacePrev.at) / 1000;
      let sum = 0;
      for (const [name, i] of now) {
        const p = state.ifacePrev.map.get(name);
        if (!p) continue;
        i.rate_tx = Math.max(0, (i.tx_bytes - p.tx_bytes) / dt);
        i.rate_rx = Math.max(0, (i.rx_bytes - p.rx_bytes) / dt);
        sum += (i.rate_tx + i.rate_rx) * dt;
      }
      const attributed = Math.max(0, wire - state.wirePrev);
      state.share = sum > 0 ? attributed / sum : null;
    }
    state.ifacePrev = { at, map: now };
    state.wirePrev = wire;
  }

  function renderInterfaces() {
    const ifaces = state.ifaces;
    if (!ifaces) return;
    const rows = (ifaces.interfaces || []).filter((i) => matches([i.name])).map((i) => {
      const p = state.ifacePrev && state.ifacePrev.map.get(i.name);
      return Object.assign({}, i, { rate_tx: p ? p.rate_tx : undefined, rate_rx: p ? p.rate_rx : undefined,
        rate: p ? (p.rate_tx || 0) + (p.rate_rx || 0) : 0 });
    });
    document.getElementById("coverage").textContent = state.share === null || state.share === undefined
      ? "attributed share: measuring…"
      : `attributed over the last read: ${pct(state.share)} of the bytes on the agent's own network namespace's interfaces (loopback bytes count on both ends; traffic in other namespaces is attributed too but is not on these interfaces, so this can read over 100 %)`;
    drawTable(document.getElementById("interfaces"), "interfaces", [
      { key: "name", label: "interface" },
      { key: "rate_tx", label: "sending", num: true, cell: (i) => rate(i.rate_tx) },
      { key: "rate_rx", label: "receiving", num: true, cell: (i) => rate(i.rate_rx) },
      { key: "tx_bytes", label: "sent since boot", num: true, cell: (i) => bytes(i.tx_bytes) },
      { key: "rx_bytes", label: "received since boot", num: true, cell: (i) => bytes(i.rx_bytes) },
    ], rows);
  }

  function renderHealth() {
    const snap = state.snap;
    if (!snap) return;
    const m = snap.meta;
    const facts = [
      ["capture mode", m.capture_mode], ["hooks", m.hooks], ["live sockets read by", m.live_read],
      ["kernel", m.kernel], ["agent started", m.started_at], ["version", m.version],
    ].filter(([, v]) => v !== undefined && v !== null);
    document.getElementById("capture").replaceChildren(
      ...facts.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
    const counters = Object.entries(m.lost || {}).map(([k, v]) => ({ name: k, value: v }));
    for (const k of ["connections_folded", "processes_folded"]) {
      if (m[k] !== undefined) counters.push({ name: k, value: m[k] });
    }
    const dnsStats = snap.dns && snap.dns.stats;
    if (dnsStats) {
      for (const [k, v] of Object.entries(dnsStats)) counters.push({ name: "dns " + k, value: v });
    }
    drawTable(document.getElementById("losses"), null, [
      { key: "name", label: "counter" },
      { key: "value", label: "since start", num: true, cell: (c) => num(c.value),
        cls: (c) => (c.value > 0 && LOSS_KEYS.includes(c.name) ? "nonzero" : "") },
    ], counters.filter((c) => matches([c.name])));
    const deg = m.degraded || [];
    document.getElementById("degraded").replaceChildren(
      ...(deg.length ? deg.map((d) => el("li", {}, d)) : [el("li", { class: "muted" }, "nothing")]));
    drawTable(document.getElementById("programs"), null, [
      { key: "program", label: "program" },
      { key: "attach_point", label: "attach point" },
      { key: "feeds", label: "feeds" },
      { key: "attached", label: "attached", cell: (p) => (p.attached ? "yes" : "no") },
      { key: "error", label: "why not", cell: (p) => el("span", { title: p.error || "" }, p.error || "") },
    ], (m.programs || []).filter((p) => matches([p.program, p.attach_point, p.error])));
  }

  // ---- history ------------------------------------------------------------

  function historyQuery(extra) {
    const h = state.history;
    const q = new URLSearchParams();
    q.set("since", h.since);
    if (h.until) q.set("until", h.until);
    for (const [k, v] of Object.entries(extra || {})) q.set(k, v);
    return q.toString();
  }

  // History queries, one at a time: the agent answers one history query at
  // a time (so /metrics is never starved) and says so with a 503 to a
  // second; the page queues its own and retries a few times when another
  // client's query holds the store.
  let historyQueue = Promise.resolve();
  const BUSY = "another history query is running";
  function historyGet(path) {
    const run = async () => {
      for (let attempt = 0; ; attempt++) {
        try {
          return await getJson(path);
        } catch (e) {
          if (attempt >= 5 || !String(e.message).includes(BUSY)) throw e;
          await new Promise((r) => setTimeout(r, 400 * (attempt + 1)));
        }
      }
    };
    const p = historyQueue.then(run, run);
    historyQueue = p.catch(() => {});
    return p;
  }

  async function loadHistory() {
    const h = state.history;
    h.fetchedAt = Date.now();
    const status = document.getElementById("history-status");
    status.textContent = "loading…";
    try {
      h.data = await historyGet("/api/v1/history?" + historyQuery({ group_by: h.groupBy, limit: HISTORY_LIMIT }));
      status.textContent = "";
    } catch (e) {
      h.data = null;
      status.textContent = e.message;
    }
    renderHistory();
    if (h.selected) loadDrill(h.selected);
  }

  function rangeLabel(d) {
    const f = (s) => new Date(s * 1000).toLocaleString();
    return d ? `${f(d.since)} – ${f(d.until)} · ${d.resolution_seconds >= 86400 ? "daily" : d.resolution_seconds >= 3600 ? "hourly" : "per minute"}` : "";
  }

  function renderHistory() {
    const h = state.history;
    for (const b of document.querySelectorAll(".range button")) {
      b.classList.toggle("active", !h.until && b.dataset.since === h.since);
    }
    const d = h.data;
    document.getElementById("range-label").textContent = rangeLabel(d);
    if (!d) { drawChart(null); drawTalkers([]); return; }
    drawChart(d);
    drawTalkers(d.rows || []);
  }

  function drawChart(d) {
    const box = document.getElementById("chart");
    if (state.chart) { state.chart.destroy(); state.chart = null; }
    box.replaceChildren();
    if (!d || !d.series || !d.series.length || typeof uPlot === "undefined") {
      if (d) box.append(el("p", { class: "muted" }, "no traffic in this range"));
      return;
    }
    // One x axis: every bucket any series has; bytes per second per bucket.
    const xs = [...new Set(d.series.flatMap((s) => s.points.map((p) => p[0])))].sort((a, b) => a - b);
    const index = new Map(xs.map((x, i) => [x, i]));
    const step = d.resolution_seconds || 60;
    const raw = d.series.map((s) => {
      const ys = new Array(xs.length).fill(0);
      for (const [t, sent, received] of s.points) ys[index.get(t)] = (sent + received) / step;
      return ys;
    });
    // Stacked: series i is drawn at the sum of series 0..i, the biggest
    // sum first so each smaller one paints over it.
    const stacked = [];
    raw.forEach((ys, i) => stacked.push(ys.map((y, j) => y + (i ? stacked[i - 1][j] : 0))));
    const order = stacked.map((_, i) => i).reverse();
    const series = [{}].concat(order.map((i) => ({
      label: d.series[i].label,
      stroke: PALETTE[i % PALETTE.length],
      fill: PALETTE[i % PALETTE.length] + "cc",
      width: 1,
      value: (u, v, si, di) => (di === null || di === undefined ? "–" : rate(raw[i][di])),
    })));
    const data = [xs].concat(order.map((i) => stacked[i]));
    const width = Math.max(320, box.clientWidth || 800);
    state.chart = new uPlot({
      width, height: 300,
      series,
      axes: [{}, { values: (u, vals) => vals.map((v) => rate(v)), size: 80 }],
      cursor: { drag: { x: true, y: false, setScale: false } },
      hooks: {
        setSelect: [(u) => {
          if (u.select.width < 5) return;
          const from = Math.floor(u.posToVal(u.select.left, "x"));
          const to = Math.ceil(u.posToVal(u.select.left + u.select.width, "x"));
          state.history.since = new Date(from * 1000).toISOString();
          state.history.until = new Date(to * 1000).toISOString();
          loadHistory();
        }],
      },
    }, data, box);
  }

  function keyFilter(row) {
    const q = {};
    for (const [k, v] of Object.entries(row.key || {})) {
      if (["process", "service", "container", "user"].includes(k) && v !== "") q[k] = v;
    }
    return q;
  }

  function drawTalkers(rows) {
    state.history.drawnFilter = state.filter;
    const sel = state.history.selected;
    const shown = rows.filter((r) => matches([r.label, ...Object.values(r.key || {})]))
      .map((r) => Object.assign({}, r, {
        sent: r.payload_bytes_sent, received: r.payload_bytes_received,
        total: (r.payload_bytes_sent || 0) + (r.payload_bytes_received || 0),
      }));
    drawTable(document.getElementById("talkers"), "talkers", [
      { key: "label", label: state.history.groupBy },
      { key: "sent", label: "sent", num: true, cell: (r) => exact(r.sent) },
      { key: "received", label: "received", num: true, cell: (r) => exact(r.received) },
      { key: "total", label: "total", num: true, cell: (r) => exact(r.total) },
      { key: "packets", label: "packets", num: true,
        value: (r) => (r.packets_sent || 0) + (r.packets_received || 0),
        cell: (r) => num((r.packets_sent || 0) + (r.packets_received || 0)) },
    ], shown, (r) => ({
      "data-label": r.label,
      class: "clickable" + (sel && sel.label === r.label ? " selected" : ""),
      onclick: r.other || state.history.groupBy === "remote" ? undefined
        : () => { state.history.selected = r; loadDrill(r); renderHistory(); },
    }));
  }

  async function loadDrill(row) {
    const box = document.getElementById("drill");
    box.hidden = false;
    document.getElementById("drill-title").textContent = row.label;
    const filter = keyFilter(row);
    const remotes = document.getElementById("drill-remotes");
    const dns = document.getElementById("drill-dns");
    try {
      const r = await historyGet("/api/v1/history?" + historyQuery(Object.assign({ group_by: "remote", limit: 20 }, filter)));
      const d = await historyGet("/api/v1/history/dns?" + historyQuery(Object.assign({ limit: 20 }, filter)));
      drawTable(remotes, null, [
        { key: "label", label: "remote" },
        { key: "payload_bytes_sent", label: "sent", num: true, cell: (x) => bytes(x.payload_bytes_sent) },
        { key: "payload_bytes_received", label: "received", num: true, cell: (x) => bytes(x.payload_bytes_received) },
      ], r.rows || []);
      drawTable(dns, null, [
        { key: "resolver", label: "resolver" },
        { key: "process", label: "process" },
        { key: "queries", label: "queries", num: true, cell: (x) => num(x.queries) },
        { key: "failures", label: "failures", num: true, cell: (x) => num(x.failures) },
        { key: "latency_p50_ms", label: "p50", num: true, cell: (x) => ms(x.latency_p50_ms) },
        { key: "latency_p99_ms", label: "p99", num: true, cell: (x) => ms(x.latency_p99_ms) },
      ], d.rows || []);
    } catch (e) {
      remotes.replaceChildren(el("tr", {}, el("td", { class: "error" }, e.message)));
      dns.replaceChildren();
    }
  }

  // ---- tabs and wiring ----------------------------------------------------

  function render() {
    renderHeader();
    if (state.tab === "processes") renderProcesses();
    else if (state.tab === "connections") renderConnections();
    else if (state.tab === "dns") renderDns();
    else if (state.tab === "interfaces") renderInterfaces();
    else if (state.tab === "health") renderHealth();
    else if (state.tab === "history") {
      // History changes when it is loaded, not at every live read: redraw
      // the talkers only when the filter changed (rows stay put to click).
      const h = state.history;
      if (Date.now() - h.fetchedAt > HISTORY_REFRESH_MS && !h.until) loadHistory();
      else if (h.drawnFilter !== state.filter) drawTalkers(h.data ? h.data.rows || [] : []);
    }
    state.renders++;
    document.body.dataset.renders = String(state.renders);
  }

  function showTab() {
    const want = (location.hash || "#processes").slice(1);
    const tabs = ["processes", "connections", "dns", "interfaces", "health", "history"];
    state.tab = tabs.includes(want) ? want : "processes";
    for (const a of document.querySelectorAll("#tabs a")) {
      a.classList.toggle("active", a.dataset.tab === state.tab);
    }
    for (const t of tabs) document.getElementById("view-" + t).hidden = t !== state.tab;
    if (state.tab === "history") { state.history.fetchedAt = 0; }
    render();
  }

  function start() {
    window.addEventListener("hashchange", showTab);
    const filter = document.getElementById("filter");
    filter.addEventListener("input", () => { state.filter = filter.value.trim().toLowerCase(); render(); });
    for (const b of document.querySelectorAll(".range button")) {
      b.addEventListener("click", () => {
        state.history.since = b.dataset.since;
        state.history.until = null;
        loadHistory();
      });
    }
    const groupBy = document.getElementById("group-by");
    groupBy.addEventListener("change", () => {
      state.history.groupBy = groupBy.value;
      state.history.selected = null;
      document.getElementById("drill").hidden = true;
      loadHistory();
    });
    showTab();
    poll();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
