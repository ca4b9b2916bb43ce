// vAdvisor's live page: a client of the REST API and /metrics, all URLs
// relative to /ui/ so that the browser's origin and credentials apply.
"use strict";
(() => {
  const API = "../api/v1.0/";
  const METRICS = document.querySelector('meta[name="vadvisor-metrics"]').content;
  const POLL_MS = 1000; // the history's default sampling period, until /host gives it
  const LIVE_MS = 10000; // with the history off, each live reading costs libvirt a call: keep it rare
  const HOST_MS = 2000; // /host costs libvirt nothing
  const WINDOW_S = 60; // what the charts show, the history's default retention
  const GONE_S = 60; // how long a VM that left the stats stays listed
  const MAX_EVENTS = 200; // kept in the feed
  const STREAM_SILENCE_MS = 40000; // the stream sends a heartbeat every 15 s

  const $ = (sel) => document.querySelector(sel);
  const el = (tag, cls, text) => {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    return e;
  };

  // ---- formatting ----
  const UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  function bytes(v, suffix = "") {
    if (v == null || !isFinite(v)) return "–";
    let i = 0;
    while (Math.abs(v) >= 1024 && i < UNITS.length - 1) { v /= 1024; i++; }
    const digits = i === 0 ? (Number.isInteger(v) ? 0 : 1) : v < 10 ? 2 : v < 100 ? 1 : 0;
    return v.toFixed(digits) + " " + UNITS[i] + suffix;
  }
  const count = (v, suffix = "") => v == null || !isFinite(v) ? "–" :
    (v >= 1e6 ? (v / 1e6).toFixed(1) + "M" : v >= 1e4 ? (v / 1e3).toFixed(1) + "k" : v.toFixed(v < 10 ? 1 : 0)) + suffix;
  const pct = (v) => v == null || !isFinite(v) ? "–" : v.toFixed(1);
  const clock = (t) => new Date(t * 1000).toLocaleTimeString([], { hour12: false });
  // The clock for a time of today, with the date before it otherwise.
  function when(t) {
    const d = new Date(t * 1000);
    if (d.toDateString() === new Date().toDateString()) return clock(t);
    const two = (n) => String(n).padStart(2, "0");
    return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} ${clock(t)}`;
  }
  // A duration in seconds as "24 h", "90 min" or "45 s", never broken
  // across lines (a no-break space).
  const span = (s) => s % 3600 === 0 ? `${s / 3600}\u00a0h` : s % 60 === 0 ? `${s / 60}\u00a0min` : `${s}\u00a0s`;
  // RFC 3339 with nanoseconds to Unix seconds (Date keeps milliseconds).
  const parseTime = (s) => Date.parse(s.replace(/(\.\d{3})\d+/, "$1")) / 1000;

  // ---- state ----
  const vms = new Map(); // uuid -> vm
  const host = { up: null, versions: null, domains: null, history: undefined, events: null, statsError: null, apiError: null, lastData: null };
  const view = { sort: { key: "name", dir: 1 }, filter: "", uuid: null };

  function vmFor(uuid) {
    let vm = vms.get(uuid);
    if (!vm) {
      vm = { uuid, name: uuid, state: "Unknown", stateT: 0, prev: null, points: [], seen: 0, row: null, vcpus: null, mem: null };
      vms.set(uuid, vm);
    }
    return vm;
  }

  // Rates come from two consecutive samples of one VM: the counter's
  // difference over the difference of the samples' own timestamps. A
  // counter that went back (the VM restarted) yields no value.
  function derive(a, b) {
    const dt = b.t - a.t;
    const rate = (x, y) => x == null || y == null || y < x ? null : (y - x) / dt;
    const cpuA = a.s.cpu || {}, cpuB = b.s.cpu || {};
    // CPU times are milliseconds: ms per s / 10 = % of one host CPU.
    const p = { t: b.t, cpu: null, vcpu: [], bal: null, rss: null, gHas: null, gUses: null, disk: {}, net: {} };
    const c = rate(cpuA.usage && cpuA.usage.cpu_time, cpuB.usage && cpuB.usage.cpu_time);
    p.cpu = c == null ? null : c / 10;
    const before = new Map((cpuA.per_cpu_usage || []).map((v) => [v.index, v.vcpu_time]));
    for (const v of cpuB.per_cpu_usage || []) {
      const r = rate(before.get(v.index), v.vcpu_time);
      p.vcpu[v.index] = r == null ? null : r / 10;
    }
    p.bal = b.s.balloon && b.s.balloon.current != null ? b.s.balloon.current * 1024 : null;
    const m = b.s.memory || {};
    p.rss = m.rss != null ? m.rss * 1024 : null;
    // What the guest has and uses, as it reports them (KiB): "available"
    // is the memory it sees, "usable" what it could still use.
    p.gHas = m.available != null ? m.available * 1024 : null;
    p.gUses = m.available != null && m.usable != null ? (m.available - m.usable) * 1024 : null;
    const disks = new Map((a.s.diskio || []).map((d) => [d.name, d]));
    for (const d of b.s.diskio || []) {
      const o = disks.get(d.name) || {};
      p.disk[d.name] = [rate(o.rd_bytes, d.rd_bytes), rate(o.wr_bytes, d.wr_bytes), rate(o.rd_reqs, d.rd_reqs), rate(o.wr_reqs, d.wr_reqs)];
    }
    const ifs = new Map(((a.s.network || {}).interfaces || []).map((n) => [n.name, n]));
    for (const n of (b.s.network || {}).interfaces || []) {
      const o = ifs.get(n.name) || {};
      p.net[n.name] = [rate(o.rx_bytes, n.rx_bytes), rate(o.tx_bytes, n.tx_bytes), rate(o.rx_packets, n.rx_packets), rate(o.tx_packets, n.tx_packets)];
    }
    return p;
  }

  function ingestSample(vm, s) {
    const cur = { t: parseTime(s.timestamp), s };
    if (vm.prev && cur.t <= vm.prev.t) return;
    if (vm.prev) {
      vm.points.push(derive(vm.prev, cur));
      const cutoff = cur.t - WINDOW_S;
      let drop = 0;
      while (drop < vm.points.length && vm.points[drop].t < cutoff) drop++;
      if (drop) vm.points.splice(0, drop);
    }
    vm.prev = cur;
    vm.name = s.name || vm.name;
    if (cur.t >= vm.stateT) { vm.state = s.state; vm.stateT = cur.t; }
    vm.vcpus = s.cpu && s.cpu.per_cpu_usage ? s.cpu.per_cpu_usage.length : null;
    vm.mem = s.balloon && s.balloon.current != null ? s.balloon.current * 1024 :
      s.memory && s.memory.actual != null ? s.memory.actual * 1024 : null;
  }

  // A VM counts as seen now when it has the newest sample of the answer;
  // the others stopped (a history answer holds their last samples too) and
  // were last seen at their last sample.
  function ingest(data, now) {
    let newest = "";
    for (const samples of Object.values(data)) {
      if (samples.length && samples[samples.length - 1].timestamp > newest) newest = samples[samples.length - 1].timestamp;
    }
    for (const [uuid, samples] of Object.entries(data)) {
      const vm = vmFor(uuid);
      for (const s of samples) ingestSample(vm, s);
      if (!samples.length) continue;
      const last = samples[samples.length - 1].timestamp;
      vm.seen = last === newest ? now : Math.max(vm.seen, parseTime(last));
    }
    for (const [uuid, vm] of vms) {
      if (vm.seen < now && now - vm.seen > GONE_S) {
        if (vm.row) vm.row.tr.remove();
        vms.delete(uuid);
      }
    }
    return newest;
  }

  // A VM view starts with the VM's whole history, then follows the polls.
  function backfill(vm, samples) {
    const first = vm.points.length ? vm.points[0].t : Infinity;
    const older = [];
    let prev = null;
    for (const s of samples) {
      const cur = { t: parseTime(s.timestamp), s };
      if (prev && cur.t > prev.t && cur.t < first) older.push(derive(prev, cur));
      prev = cur;
    }
    vm.points = older.concat(vm.points);
    if (!vm.prev && prev) vm.prev = prev;
  }

  // ---- polling ----
  async function errorText(resp) {
    try { return (await resp.json()).error || resp.statusText; } catch { return resp.statusText; }
  }

  // The page follows the history: all of it once, then at every sampling
  // period the samples since the newest one it has (start_time includes
  // that one, which ingestSample skips), so an open page adds no libvirt
  // call to the sampler's. With the history off (409) it takes a live
  // reading every LIVE_MS instead.
  const stats = { newest: null, off: false };
  async function pollStats() {
    const url = stats.off ? "stats/?live=true" : "stats/" + (stats.newest ? "?start_time=" + encodeURIComponent(stats.newest) : "");
    let data;
    try {
      const resp = await fetch(API + url, { cache: "no-store" });
      if (!resp.ok) {
        const msg = await errorText(resp);
        if (resp.status === 409 && !stats.off) {
          stats.off = true;
          $("#note").textContent = `${msg.charAt(0).toUpperCase()}${msg.slice(1)}. Showing a live reading every ${LIVE_MS / 1000} s.`;
          $("#note").hidden = false;
          return pollStats();
        }
        // 503: vAdvisor answers but cannot read libvirt.
        if (resp.status === 503) { host.statsError = msg; host.apiError = null; }
        else { host.apiError = `HTTP ${resp.status}: ${msg}`; }
        return;
      }
      data = await resp.json();
    } catch (e) {
      host.apiError = "vAdvisor is not answering (" + e.message + ")";
      return;
    } finally {
      if (data === undefined) renderHost();
    }
    const now = Date.now() / 1000;
    host.statsError = host.apiError = null;
    const newest = ingest(data, now);
    // An answer with nothing newer (the poll came before the next sample)
    // changes nothing: every VM is as it was.
    if (stats.off || newest > (stats.newest || "")) {
      if (newest) stats.newest = newest;
      host.lastData = now;
    }
    render();
  }
  const statsPeriod = () => stats.off ? LIVE_MS : host.history ? host.history.interval_seconds * 1000 : POLL_MS;

  // period is in ms, or a function giving the next one.
  function loop(fn, period) {
    let timer = null;
    const run = async () => {
      timer = null;
      const start = performance.now();
      await fn();
      // A hidden tab stops polling; it resumes when shown again.
      const next = typeof period === "function" ? period() : period;
      if (next == null) return; // done
      if (!document.hidden) timer = setTimeout(run, Math.max(100, next - (performance.now() - start)));
    };
    document.addEventListener("visibilitychange", () => {
      if (!document.hidden && timer === null) run();
    });
    run();
  }

  // Reachability and the domain count come from /host, which answers
  // from what vAdvisor already knows; the versions from /metrics, read
  // only until they are known (vAdvisor reads them in the background after
  // it connects), since a scrape reads every domain.
  async function pollHost() {
    try {
      const resp = await fetch(API + "host", { cache: "no-store" });
      if (!resp.ok) return;
      const h = await resp.json();
      host.up = h.libvirt_up ? 1 : 0;
      host.domains = h.reading ? h.reading.domains : null;
      host.history = h.history;
      host.events = h.events;
    } catch { return; }
    renderHost();
    renderFeedNote();
  }

  async function pollVersions() {
    let text;
    try {
      const resp = await fetch(METRICS, { cache: "no-store" });
      if (!resp.ok) return;
      text = await resp.text();
    } catch { return; }
    const v = text.match(/^libvirt_versions_info\{(.*)\} /m);
    if (v) {
      const labels = {};
      for (const m of v[1].matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[m[1]] = m[2];
      host.versions = labels;
    }
    renderHost();
  }

  // ---- rendering: host summary and banner ----
  function renderHost() {
    const up = $("#libvirt-up");
    const down = host.statsError != null || host.up === 0;
    up.textContent = host.apiError ? "unknown" : down ? "unreachable" : host.up == null ? "…" : "reachable";
    up.className = "pill " + (host.apiError ? "warn" : down ? "bad" : host.up == null ? "" : "ok");
    const v = host.versions;
    $("#versions").textContent = v ? `libvirt ${v.libvirtd_running} · ${v.hypervisor_type} ${v.hypervisor_running}` : "…";
    const counts = {};
    let active = 0;
    for (const vm of vms.values()) {
      if (gone(vm)) continue;
      counts[vm.state] = (counts[vm.state] || 0) + 1;
      active++;
    }
    const parts = Object.keys(counts).sort().map((s) => `${counts[s]} ${s.toLowerCase()}`);
    if (host.domains != null) {
      // The stats cover active VMs only; the rest of libvirt's domains are shut off.
      if (host.domains > active) parts.push(`${host.domains - active} inactive`);
      parts.push(`${host.domains} defined`);
    }
    $("#counts").textContent = parts.join(" · ") || "none";
    $("#updated").textContent = host.lastData ? clock(host.lastData) : "never";
    const banner = $("#banner");
    const problem = host.apiError || (host.statsError != null ? "libvirt is unreachable: " + host.statsError :
      host.up === 0 ? "libvirt is unreachable" : null);
    banner.hidden = !problem;
    if (problem) {
      banner.textContent = problem + (host.lastData ? `. Showing the last data, from ${clock(host.lastData)}.` : ".");
    }
  }

  const gone = (vm) => vm.seen < host.lastData;

  // ---- rendering: the VM table ----
  function rowValues(vm) {
    const p = vm.points[vm.points.length - 1];
    const sum = (obj, i) => {
      if (!p) return null;
      let s = null;
      for (const v of Object.values(obj)) if (v[i] != null) s += v[i];
      return s;
    };
    return {
      name: vm.name, state: gone(vm) ? "Gone" : vm.state, vcpus: vm.vcpus, mem: vm.mem,
      cpu: p ? p.cpu : null, diskRd: sum(p ? p.disk : {}, 0), diskWr: sum(p ? p.disk : {}, 1),
      netRx: sum(p ? p.net : {}, 0), netTx: sum(p ? p.net : {}, 1), uuid: vm.uuid,
    };
  }
  const COLUMNS = [
    ["name", null], ["state", null], ["vcpus", (v) => v == null ? "–" : String(v)], ["mem", (v) => bytes(v)],
    ["cpu", pct], ["diskRd", (v) => bytes(v)], ["diskWr", (v) => bytes(v)],
    ["netRx", (v) => bytes(v)], ["netTx", (v) => bytes(v)], ["uuid", null],
  ];

  function makeRow(vm) {
    const tr = el("tr");
    const cells = {};
    for (const [key] of COLUMNS) {
      const td = el("td", key === "uuid" || key === "name" ? key : key === "state" ? "" : "num");
      if (key === "name") {
        const a = el("a");
        a.href = "#/vm/" + vm.uuid;
        td.append(a);
        cells.name = a;
      } else {
        cells[key] = td;
      }
      tr.append(td);
    }
    tr.dataset.uuid = vm.uuid;
    return { tr, cells, text: {} };
  }

  function renderTable() {
    const filter = view.filter.toLowerCase();
    const rows = [];
    for (const vm of vms.values()) {
      if (!vm.row) vm.row = makeRow(vm);
      const values = rowValues(vm);
      vm.values = values;
      if (filter && !vm.name.toLowerCase().includes(filter)) continue;
      rows.push(vm);
      const r = vm.row;
      for (const [key, fmt] of COLUMNS) {
        const text = fmt ? fmt(values[key]) : values[key];
        if (r.text[key] !== text) {
          r.cells[key].textContent = r.text[key] = text;
          if (key === "state") r.cells.state.className = "state state-" + text;
        }
      }
      r.tr.classList.toggle("gone", values.state === "Gone");
    }
    const { key, dir } = view.sort;
    rows.sort((a, b) => {
      const x = a.values[key], y = b.values[key];
      if (x == null || y == null) return x == null ? (y == null ? 0 : 1) : -1; // unknowns last
      const c = typeof x === "string" ? x.localeCompare(y, undefined, { numeric: true }) : x - y;
      return c * dir || a.name.localeCompare(b.name, undefined, { numeric: true });
    });
    const tbody = $("#vms tbody");
    // Only moves rows whose place changed: no layout work on a steady table.
    let node = tbody.firstChild;
    for (const vm of rows) {
      if (node === vm.row.tr) { node = node.nextSibling; continue; }
      tbody.insertBefore(vm.row.tr, node);
    }
    while (node) { const next = node.nextSibling; node.remove(); node = next; }
    $("#shown").textContent = filter ? `${rows.length} of ${vms.size}` : `${vms.size} VMs`;
    $("#empty").hidden = vms.size > 0;
  }

  function render() {
    renderHost();
    if (view.uuid) renderVM(); else renderTable();
  }

  // ---- the VM view ----
  const CHARTS = [
    { id: "cpu", title: "CPU % (100 = one host CPU)", fmt: pct,
      series: (p, out) => { out("total", p.cpu); p.vcpu.forEach((v, i) => out("vCPU " + i, v)); } },
    { id: "mem", title: "Memory", fmt: (v) => bytes(v),
      series: (p, out) => {
        out("balloon", p.bal); out("RSS", p.rss);
        // Only guests that report their memory have these two.
        if (p.gHas != null) out("guest has", p.gHas);
        if (p.gUses != null) out("guest uses", p.gUses);
      } },
    { id: "diskB", title: "Disk bytes/s", fmt: (v) => bytes(v, "/s"),
      series: (p, out) => { for (const [n, v] of Object.entries(p.disk)) { out(n + " read", v[0]); out(n + " write", v[1]); } } },
    { id: "diskOps", title: "Disk operations/s (IOPS)", fmt: (v) => count(v, "/s"),
      series: (p, out) => { for (const [n, v] of Object.entries(p.disk)) { out(n + " read", v[2]); out(n + " write", v[3]); } } },
    { id: "netB", title: "Network bytes/s", fmt: (v) => bytes(v, "/s"),
      series: (p, out) => { for (const [n, v] of Object.entries(p.net)) { out(n + " rx", v[0]); out(n + " tx", v[1]); } } },
    { id: "netP", title: "Network packets/s", fmt: (v) => count(v, "/s"),
      series: (p, out) => { for (const [n, v] of Object.entries(p.net)) { out(n + " rx", v[2]); out(n + " tx", v[3]); } } },
  ];
  const charts = new Map(); // id -> {box, plot, key}
  let lastDrawn = null; // newest point drawn, so an unchanged poll draws nothing

  function css(name) { return getComputedStyle(document.documentElement).getPropertyValue(name).trim(); }

  function chartData(def, points) {
    const labels = [], cols = new Map();
    points.forEach((p, i) => def.series(p, (label, v) => {
      let col = cols.get(label);
      if (!col) { col = new Array(points.length).fill(null); cols.set(label, col); labels.push(label); }
      col[i] = v;
    }));
    return { labels, data: [points.map((p) => p.t), ...labels.map((l) => cols.get(l))] };
  }

  function makePlot(def, box, labels) {
    const fg = css("--muted"), grid = css("--grid");
    const axis = { stroke: fg, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } };
    const opts = {
      width: Math.max(200, box.clientWidth), height: 180,
      scales: { x: { time: true }, y: { range: (u, min, max) => [0, max > 0 ? max * 1.1 : 1] } },
      axes: [axis, { ...axis, size: 72, values: (u, vals) => vals.map((v) => def.fmt(v)) }],
      series: [{ value: (u, v) => v == null ? "–" : clock(v) }].concat(labels.map((label, i) => ({
        label, stroke: css("--s" + (i % 8 + 1)), width: 1.5, value: (u, v) => def.fmt(v),
      }))),
      legend: { live: true },
      cursor: { drag: { x: false, y: false } },
    };
    return new uPlot(opts, [[], ...labels.map(() => [])], box);
  }

  function renderVM(force) {
    const vm = vms.get(view.uuid);
    if (!vm) return;
    const state = gone(vm) ? "Gone" : vm.state;
    $("#vm-title").textContent = vm.name;
    $("#vm-state").textContent = state;
    $("#vm-state").className = "state state-" + state;
    document.title = vm.name + " · vAdvisor";
    const newest = vm.points.length ? vm.points[vm.points.length - 1] : null;
    if (!force && newest === lastDrawn) return;
    lastDrawn = newest;
    for (const def of CHARTS) {
      const c = charts.get(def.id);
      const { labels, data } = chartData(def, vm.points);
      const key = labels.join("\n");
      if (c.key !== key) {
        if (c.plot) c.plot.destroy();
        c.plot = null;
        c.key = key;
        c.none.hidden = labels.length > 0;
        if (labels.length) c.plot = makePlot(def, c.box, labels);
      }
      if (c.plot) {
        c.plot.setData(data);
        // Without a pointer over the chart, the legend shows the newest values.
        if (c.plot.cursor.left < 0) c.plot.setLegend({ idx: data[0].length - 1 });
      }
    }
  }

  function buildCharts() {
    const root = $("#charts");
    for (const c of charts.values()) if (c.plot) c.plot.destroy();
    charts.clear();
    root.replaceChildren();
    for (const def of CHARTS) {
      const fig = el("figure", "chart");
      fig.dataset.chart = def.id;
      const h = el("h3", null, def.title);
      const none = el("p", "none", "No data yet.");
      const box = el("div");
      fig.append(h, none, box);
      root.append(fig);
      charts.set(def.id, { box, none, plot: null, key: null });
    }
    lastDrawn = null;
  }

  async function openVM(uuid) {
    view.uuid = uuid;
    const vm = vmFor(uuid);
    $("#vm-uuid").textContent = uuid;
    $("#vm-title").textContent = vm.name;
    buildCharts();
    renderVM(true);
    $("#spec-body").textContent = "loading…";
    const [hist, spec] = await Promise.allSettled([
      fetch(API + "stats/" + uuid, { cache: "no-store" }).then((r) => r.ok ? r.json() : null),
      fetch(API + "specs/" + uuid, { cache: "no-store" }).then(async (r) => r.ok ? r.json() : { error: await errorText(r) }),
    ]);
    if (view.uuid !== uuid) return;
    if (hist.status === "fulfilled" && hist.value && hist.value[uuid]) {
      backfill(vm, hist.value[uuid]);
      renderVM(true);
    }
    $("#spec-body").textContent = spec.status === "fulfilled" ? JSON.stringify(spec.value, null, 2) : "cannot load: " + spec.reason;
  }

  function route() {
    const m = location.hash.match(/^#\/vm\/([0-9a-fA-F-]{36})$/);
    const uuid = m ? m[1].toLowerCase() : null;
    $("#host-view").hidden = !!uuid;
    $("#vm-view").hidden = !uuid;
    if (uuid) {
      openVM(uuid);
      $("#vm-title").tabIndex = -1;
      $("#vm-title").focus();
    } else {
      view.uuid = null;
      for (const c of charts.values()) if (c.plot) c.plot.destroy();
      charts.clear();
      document.title = "vAdvisor";
      renderTable();
    }
  }

  // ---- the event feed ----
  const feed = { last: null, connected: false };
  const EVENT_STATE = { Started: "Running", Resumed: "Running", Suspended: "Paused", Stopped: "Shutoff", Crashed: "Crashed", PMSuspended: "PMSuspended" };

  function addEvent(ev) {
    if (ev.id != null && feed.last != null && ev.id <= feed.last) return; // already shown
    if (ev.id != null) feed.last = ev.id;
    const t = parseTime(ev.timestamp);
    const li = el("li");
    if (ev.id != null) li.dataset.id = ev.id;
    const time = el("time", null, clock(t));
    time.dateTime = ev.timestamp;
    const what = el("span", "what");
    const name = el("a", null, ev.domain_name);
    name.href = "#/vm/" + ev.domain_id;
    what.append(name, " ", el("span", "ev-" + ev.event_type, ev.event_type), " ", el("span", "reason", ev.reason));
    li.append(time, what);
    const list = $("#events");
    list.prepend(li);
    while (list.childElementCount > MAX_EVENTS) list.lastElementChild.remove();
    renderFeedNote();
    // An event reports a state change before the next sample shows it.
    const vm = vms.get(ev.domain_id);
    const state = EVENT_STATE[ev.event_type];
    if (vm && state && t >= vm.stateT) {
      vm.state = state;
      vm.stateT = t;
      if (view.uuid) renderVM(); else renderTable();
      renderHost();
    }
  }

  // An empty feed says what it covers, so that it does not look broken:
  // vAdvisor holds every event since kept_since (its start, or the
  // retention ago), and an empty history means there was none.
  function renderFeedNote() {
    const note = $("#events-none");
    const none = feed.last != null && !$("#events").childElementCount && host.events;
    note.hidden = !none;
    if (none) {
      note.textContent = `No events since ${when(parseTime(host.events.kept_since))}; kept for ${span(host.events.retention_seconds)}`;
    }
  }

  function feedStatus(text, cls) {
    const s = $("#feed-status");
    s.textContent = text;
    s.className = "pill " + cls;
  }

  async function readLines(resp, onLine, signal) {
    const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done || signal.aborted) return;
      buf += value;
      let nl;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        onLine(line);
      }
    }
  }

  // Recent history first, then a stream resumed after the last event seen,
  // so that a reconnect loses nothing and repeats nothing.
  async function followEvents() {
    let backoff = 1000;
    for (;;) {
      const ctl = new AbortController();
      let silence;
      const quiet = () => { clearTimeout(silence); silence = setTimeout(() => ctl.abort(), STREAM_SILENCE_MS); };
      try {
        if (feed.last == null) {
          const resp = await fetch(API + "events?max_events=" + MAX_EVENTS, { cache: "no-store" });
          if (!resp.ok) throw new Error(await errorText(resp));
          const text = await resp.text();
          feed.last = 0;
          for (const line of text.split("\n")) if (line.trim()) addEvent(JSON.parse(line));
          renderFeedNote();
        }
        quiet();
        const resp = await fetch(API + "events?stream=true&since=" + feed.last, { cache: "no-store", signal: ctl.signal });
        if (!resp.ok) throw new Error(await errorText(resp));
        feedStatus("live", "ok");
        backoff = 1000;
        await readLines(resp, (line) => {
          quiet(); // empty lines are the heartbeat
          if (!line) return;
          const ev = JSON.parse(line);
          if (ev.error) throw new Error(ev.error); // fell behind: resume
          addEvent(ev);
        }, ctl.signal);
      } catch (e) {
        if (feed.last === 0 && !$("#events").childElementCount) feed.last = null;
      } finally {
        clearTimeout(silence);
        ctl.abort();
      }
      feedStatus("reconnecting", "warn");
      await new Promise((r) => setTimeout(r, backoff));
      backoff = Math.min(backoff * 2, 10000);
    }
  }

  // ---- wiring ----
  for (const th of document.querySelectorAll("#vms th[data-key]")) {
    th.querySelector("button").addEventListener("click", () => {
      const key = th.dataset.key;
      const s = view.sort;
      // Numbers start with the largest: the busiest VM first.
      s.dir = s.key === key ? -s.dir : th.classList.contains("num") ? -1 : 1;
      s.key = key;
      for (const h of document.querySelectorAll("#vms th[data-key]")) h.removeAttribute("aria-sort");
      th.setAttribute("aria-sort", s.dir > 0 ? "ascending" : "descending");
      renderTable();
    });
  }
  $("#filter").addEventListener("input", (e) => { view.filter = e.target.value.trim(); renderTable(); });
  window.addEventListener("hashchange", route);
  new ResizeObserver(() => {
    for (const c of charts.values()) if (c.plot) c.plot.setSize({ width: Math.max(200, c.box.clientWidth), height: 180 });
  }).observe($("#charts"));
  matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => {
    if (view.uuid) { buildCharts(); renderVM(true); }
  });

  route();
  loop(pollStats, statsPeriod);
  loop(pollHost, HOST_MS);
  loop(pollVersions, () => host.versions ? null : 2000);
  followEvents();
})();
