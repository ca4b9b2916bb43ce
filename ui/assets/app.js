// vAdvisor's live page: a client of the REST API and /metrics, all URLs
// relative to /ui/ so that the browser's origin and credentials apply.
"use strict";
(() => {
  const API = "../api/v1.0/";
  const METRICS = document.querySelector('meta[name="vadvisor-metrics"]').content;
  const POLL_MS = 1000; // the history's default sampling period, until /host gives it
  const LIVE_MS = 10000; // with the history off, each live reading costs libvirt a call: keep it rare
  const HOST_MS = 2000; // /host costs libvirt nothing
  const RANGES = { "1m": 60, "5m": 300, "15m": 900, "1h": 3600 }; // the VM view's ranges, in s
  const MAX_POINTS = 1000; // per chart series: the step grows to keep within it
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
      vm = { uuid, name: uuid, state: "Unknown", stateT: 0, prev: null, point: null, seen: 0, row: null, vcpus: null, mem: null };
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
    // The table shows the newest figures; the VM view keeps its own series.
    if (vm.prev) vm.point = derive(vm.prev, cur);
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
      for (const s of samples) { ingestSample(vm, s); follow(uuid, s); }
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
  let hostAnswered;
  const hostKnown = new Promise((r) => { hostAnswered = r; }); // the first /host answer, or failure
  async function pollHost() {
    try {
      const resp = await fetch(API + "host", { cache: "no-store" });
      if (!resp.ok) return;
      const h = await resp.json();
      host.up = h.libvirt_up ? 1 : 0;
      host.domains = h.reading ? h.reading.domains : null;
      host.history = h.history;
      host.events = h.events;
    } catch { return; } finally { hostAnswered(); }
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
    const p = vm.point;
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
  const charts = new Map(); // id -> {fig, box, none, plot, key}

  // What the VM view shows: the last `range` seconds, live, or a zoomed
  // span that holds still. The history answers a range with one sample per
  // step, the last one of each window (k*step, (k+1)*step] of Unix time.
  // The live series applies the same rule to the samples the all-VM poll
  // brings: it costs no request of its own, and holds what the history
  // would answer for the same range, with neither a gap nor a repeat.
  const chart = { rangeKey: "1m", series: null, old: null, zoom: null, drawn: null, error: null };

  const interval = () => host.history ? host.history.interval_seconds : POLL_MS / 1000;
  // Until /host tells otherwise, the history is taken to be on.
  const historyOn = () => !stats.off && host.history !== null;
  // With the history off, the view shows the live readings of a minute.
  const rangeS = () => historyOn() ? RANGES[chart.rangeKey] : 60;
  // At least the sampling period; whole seconds that keep a span within MAX_POINTS.
  const stepFor = (s) => Math.max(interval(), Math.ceil(s / MAX_POINTS));
  // A step of one sampling period asks for every sample.
  const stepParam = (step) => step > interval() ? "&step=" + step + "s" : "";
  const iso = (t) => new Date(t * 1000).toISOString();
  // The host's time as its newest sample tells it, else the browser's.
  const serverNow = () => Math.max(stats.newest ? parseTime(stats.newest) : 0,
    chart.series && chart.series.last ? chart.series.last.t : 0) || Date.now() / 1000;

  // A sample's time in Unix nanoseconds, as the history counts its windows.
  function nanos(ts) {
    const m = ts.match(/^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?Z$/);
    if (!m) return BigInt(Math.round(parseTime(ts) * 1e3)) * 1000000n;
    return BigInt(Date.parse(m[1] + "Z")) * 1000000n + BigInt((m[2] || "").padEnd(9, "0"));
  }

  function newSeries(uuid, step) {
    return { uuid, step, stepNs: step > interval() ? BigInt(Math.round(step * 1e9)) : 0n,
      prev: null, last: null, points: [], pending: [], version: 0 };
  }

  // Adds a sample newer than the series' last. With a step, a sample of the
  // last one's window takes its place, so that the newest point is the
  // average over its window so far.
  function addSample(sr, s) {
    if (sr.last && s.timestamp <= sr.last.s.timestamp) return;
    const cur = { t: parseTime(s.timestamp), s, w: sr.stepNs ? (nanos(s.timestamp) - 1n) / sr.stepNs : null };
    if (sr.last && cur.w !== null && cur.w === sr.last.w) {
      if (sr.prev) sr.points[sr.points.length - 1] = derive(sr.prev, cur);
    } else {
      if (sr.last) sr.points.push(derive(sr.last, cur));
      sr.prev = sr.last;
    }
    sr.last = cur;
    sr.version++;
  }

  // The all-VM poll's samples of the VM in view, held back while its range loads.
  function follow(uuid, s) {
    const sr = chart.series;
    if (!sr || sr.uuid !== uuid) return;
    if (sr.pending) sr.pending.push(s); else addSample(sr, s);
  }

  async function loadSamples(uuid, query) {
    try {
      const resp = await fetch(API + "stats/" + uuid + "?" + query, { cache: "no-store" });
      if (!resp.ok) return { samples: [], error: resp.status === 409 ? null : await errorText(resp) };
      return { samples: (await resp.json())[uuid] || [], error: null };
    } catch (e) {
      return { samples: [], error: e.message };
    }
  }

  // The range is read once, when chosen; the poll keeps it going.
  async function loadRange() {
    const uuid = view.uuid, s = rangeS(), step = stepFor(s);
    const sr = newSeries(uuid, step);
    // Until the range loads, the charts show what they had on its axis.
    if (chart.series && !chart.series.pending) chart.old = chart.series;
    chart.series = sr;
    chart.zoom = null;
    chart.error = null;
    renderVM(true);
    if (historyOn()) {
      // Two steps more, for the lines to enter from the left edge.
      const { samples, error } = await loadSamples(uuid, "start_time=" + encodeURIComponent(iso(serverNow() - s - 2 * step)) + stepParam(step));
      if (chart.series !== sr) return;
      for (const x of samples) addSample(sr, x);
      chart.error = error;
    }
    for (const x of sr.pending) addSample(sr, x);
    sr.pending = null;
    chart.old = null;
    renderVM(true);
  }

  // A zoom shows the points it has at once, then reads its span again at
  // a finer step when the span is short enough for one.
  async function zoomTo(min, max) {
    const shown = chart.zoom || chart.series;
    if (!shown || !(max > min)) return;
    const z = { min, max, step: shown.step, points: chart.zoom ? chart.zoom.points : null };
    chart.zoom = z;
    renderVM(true);
    const step = stepFor(max - min);
    if (step >= z.step || !historyOn()) return;
    const sr = newSeries(view.uuid, step);
    const { samples, error } = await loadSamples(view.uuid, "start_time=" + encodeURIComponent(iso(min - 2 * step)) +
      "&end_time=" + encodeURIComponent(iso(max + step)) + stepParam(step));
    if (chart.zoom !== z) return;
    if (error) { chart.error = error; renderVM(true); return; }
    for (const x of samples) addSample(sr, x);
    z.points = sr.points;
    z.step = step;
    renderVM(true);
  }

  function resetZoom() {
    if (!chart.zoom) return;
    chart.zoom = null;
    chart.error = null;
    renderVM(true);
  }

  // What the charts' time axis covers.
  function xWindow() {
    if (chart.zoom) return [chart.zoom.min, chart.zoom.max];
    const hi = serverNow();
    return [hi - rangeS(), hi];
  }

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

  // The y axis is as wide as its longest label ("97.7 KiB/s"), measured.
  function axisWidth(u, values, i, cycle) {
    const axis = u.axes[i];
    if (cycle > 1) return axis._size; // settle
    const longest = (values || []).reduce((a, v) => v.length > a.length ? v : a, "");
    u.ctx.font = axis.font[0];
    return Math.ceil(axis.ticks.size + axis.gap + u.ctx.measureText(longest).width / devicePixelRatio) + 2;
  }

  function makePlot(def, c, labels) {
    const fg = css("--muted"), grid = css("--grid");
    const axis = { stroke: fg, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } };
    const opts = {
      width: Math.max(200, c.box.clientWidth), height: 180,
      scales: { x: { time: true, range: () => xWindow() }, y: { range: (u, min, max) => [0, max > 0 ? max * 1.1 : 1] } },
      axes: [axis, { ...axis, size: axisWidth, values: (u, vals) => vals.map((v) => def.fmt(v)) }],
      series: [{ value: (u, v) => v == null ? "–" : when(v) }].concat(labels.map((label, i) => ({
        label, stroke: css("--s" + (i % 8 + 1)), width: 1.5, value: (u, v) => def.fmt(v),
      }))),
      legend: { live: true },
      // Dragging across a chart selects a span that every chart zooms to;
      // a double-click goes back.
      cursor: { drag: { x: true, y: false, setScale: false },
        bind: { dblclick: () => (e) => { if (e.button === 0) resetZoom(); return null; } } },
      hooks: {
        setSelect: [(u) => {
          const { left, width } = u.select;
          u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
          if (width >= 3) zoomTo(u.posToVal(left, "x"), u.posToVal(left + width, "x"));
        }],
        // The time span drawn, on the figure for whoever reads the page.
        setScale: [(u, key) => {
          if (key === "x") { c.fig.dataset.min = u.scales.x.min; c.fig.dataset.max = u.scales.x.max; }
        }],
      },
    };
    return new uPlot(opts, [[], ...labels.map(() => [])], c.box);
  }

  // A live series keeps one point left of the window, for the line to
  // enter it, and drops the older ones.
  function trim(sr, lo) {
    let drop = 0;
    while (drop + 2 < sr.points.length && sr.points[drop + 1].t <= lo) drop++;
    if (drop) sr.points.splice(0, drop);
  }

  function renderRangeBar() {
    const on = historyOn();
    $("#ranges").hidden = !on;
    for (const b of document.querySelectorAll("#ranges button")) {
      b.setAttribute("aria-pressed", String(b.dataset.range === chart.rangeKey));
    }
    const z = chart.zoom, shown = z || chart.series;
    $("#unzoom").hidden = !z;
    let text = z ? `${when(z.min)} – ${when(z.max)}` : `Last ${span(rangeS())}`;
    if (on && shown) text += `, a point every ${span(shown.step)}`;
    if (chart.error) text += ` (cannot load the history: ${chart.error})`;
    const info = $("#range-info");
    if (info.textContent !== text) info.textContent = text;
  }

  function renderVM(force) {
    const vm = vms.get(view.uuid);
    if (!vm) return;
    const state = gone(vm) ? "Gone" : vm.state;
    $("#vm-title").textContent = vm.name;
    $("#vm-state").textContent = state;
    $("#vm-state").className = "state state-" + state;
    document.title = vm.name + " · vAdvisor";
    renderRangeBar();
    const sr = chart.series && chart.series.pending && chart.old || chart.series, z = chart.zoom;
    const [lo, hi] = xWindow();
    if (sr && !z) trim(sr, lo);
    const points = z && z.points ? z.points : sr ? sr.points : [];
    // An unchanged poll draws nothing.
    const drawn = [sr && sr.version, lo, hi, points.length, z && z.step].join(" ");
    if (!force && drawn === chart.drawn) return;
    chart.drawn = drawn;
    for (const def of CHARTS) {
      const c = charts.get(def.id);
      const { labels, data } = chartData(def, points);
      const key = labels.join("\n");
      if (c.key !== key) {
        if (c.plot) c.plot.destroy();
        c.plot = null;
        c.key = key;
        c.none.hidden = labels.length > 0;
        if (labels.length) c.plot = makePlot(def, c, labels);
      }
      if (c.plot) {
        const plot = c.plot;
        plot.setData(data);
        // Without a pointer over the chart, the legend shows the newest
        // values: once uPlot has drawn (a microtask), which clears it.
        queueMicrotask(() => { if (plot.cursor.left < 0) plot.setLegend({ idx: data[0].length - 1 }); });
      }
    }
    // What the charts show, for whoever reads the page.
    const box = $("#charts").dataset;
    box.step = (z || sr || {}).step || "";
    box.points = points.length;
    box.first = points.length ? points[0].t : "";
    box.last = points.length ? points[points.length - 1].t : "";
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
      charts.set(def.id, { fig, box, none, plot: null, key: null });
    }
    chart.drawn = null;
  }

  async function openVM(uuid) {
    view.uuid = uuid;
    const vm = vmFor(uuid);
    $("#vm-uuid").textContent = uuid;
    $("#vm-title").textContent = vm.name;
    chart.series = chart.old = chart.zoom = null;
    buildCharts();
    renderVM(true);
    $("#spec-body").textContent = "loading…";
    const spec = fetch(API + "specs/" + uuid, { cache: "no-store" }).then(async (r) => r.ok ? r.json() : { error: await errorText(r) });
    // The step depends on the sampling period, which /host gives.
    await Promise.race([hostKnown, new Promise((r) => setTimeout(r, 3000))]);
    if (view.uuid !== uuid) return;
    loadRange();
    const [s] = await Promise.allSettled([spec]);
    if (view.uuid !== uuid) return;
    $("#spec-body").textContent = s.status === "fulfilled" ? JSON.stringify(s.value, null, 2) : "cannot load: " + s.reason;
  }

  // The range is in the address, so that a reload keeps it:
  // #/vm/<uuid>?range=1h. Changing it replaces the address rather than
  // adding to the browser's history.
  function syncHash() {
    const h = "#/vm/" + view.uuid + "?range=" + chart.rangeKey;
    if (location.hash !== h) history.replaceState(null, "", h);
  }

  function setRange(key) {
    chart.rangeKey = key;
    syncHash();
    loadRange();
  }

  function route() {
    const m = location.hash.match(/^#\/vm\/([0-9a-fA-F-]{36})(?:\?(.*))?$/);
    const uuid = m ? m[1].toLowerCase() : null;
    const range = m ? new URLSearchParams(m[2] || "").get("range") : null;
    $("#host-view").hidden = !!uuid;
    $("#vm-view").hidden = !uuid;
    if (uuid && uuid === view.uuid) { // only the range changed
      if (Object.hasOwn(RANGES, range) && range !== chart.rangeKey) setRange(range); else syncHash();
    } else if (uuid) {
      if (Object.hasOwn(RANGES, range)) chart.rangeKey = range;
      openVM(uuid);
      syncHash();
      $("#vm-title").tabIndex = -1;
      $("#vm-title").focus();
    } else {
      view.uuid = null;
      chart.series = chart.old = chart.zoom = null;
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
  for (const b of document.querySelectorAll("#ranges button")) b.addEventListener("click", () => setRange(b.dataset.range));
  $("#unzoom").addEventListener("click", () => { resetZoom(); $('#ranges button[aria-pressed="true"]').focus(); });
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
