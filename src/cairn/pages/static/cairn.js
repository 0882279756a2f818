/* cairn web UI and reports: metric charts (uPlot), live updates and small page helpers.
 *
 * A chart group is an element with `data-charts`: its `.chart[data-key]` children are drawn
 * from `data-source` (the /ui/data/series endpoint, downsampled on the server) or, in a
 * report, from the JSON in the <script> named by `data-embedded`. `data-runs` lists the runs
 * with their label and colour. No build step: plain ES2017.
 */
(function () {
  "use strict";

  var LIVE_MS = 3000;
  var HEIGHT = 220;
  window.cairnTimings = window.cairnTimings || [];  // load and draw times, read by benchmarks

  function ema(ys, w) {
    // Exponential moving average with the start-up bias removed (as TensorBoard does).
    if (!w) return ys;
    var out = new Array(ys.length), last = 0, n = 0;
    for (var i = 0; i < ys.length; i++) {
      var v = ys[i];
      if (v == null) { out[i] = null; continue; }
      last = last * w + (1 - w) * v;
      n++;
      out[i] = last / (1 - Math.pow(w, n));
    }
    return out;
  }

  function xValues(s, mode, t0) {
    if (mode === "time") return s.times.map(function (t) { return t / 1000; });
    if (mode === "elapsed") return s.times.map(function (t) { return (t - t0) / 1000; });
    return s.steps;
  }

  function runTable(s, mode, w, t0) {
    // [xs, ys] (plus smoothed ys when w > 0), sorted by x with one point per x.
    var xs = xValues(s, mode, t0), ys = s.values, i;
    for (i = 1; i < xs.length; i++) if (xs[i] < xs[i - 1]) break;
    if (i < xs.length) {
      var order = xs.map(function (_, j) { return j; });
      order.sort(function (a, b) { return xs[a] - xs[b]; });
      xs = order.map(function (j) { return xs[j]; });
      ys = order.map(function (j) { return ys[j]; });
    }
    var ux = [], uy = [];
    for (i = 0; i < xs.length; i++) {
      if (ux.length && ux[ux.length - 1] === xs[i]) { uy[uy.length - 1] = ys[i]; continue; }
      ux.push(xs[i]); uy.push(ys[i]);
    }
    return w ? [ux, uy, ema(uy, w)] : [ux, uy];
  }

  function fmtNumber(v) {
    if (v == null) return "–";
    if (typeof v !== "number") return String(v);  // "inf" and "-inf", as the server writes them
    var a = Math.abs(v);
    if (a !== 0 && (a >= 1e6 || a < 1e-3)) return v.toExponential(3);
    return String(+v.toPrecision(5));
  }

  function Group(el) {
    this.el = el;
    this.runs = JSON.parse(el.dataset.runs || "[]");
    this.source = el.dataset.source || "";
    this.embedded = el.dataset.embedded || "";
    this.live = el.dataset.live === "1";
    this.charts = {};
    this.data = null;
    this.xSelect = el.querySelector("[data-x]");
    this.smoothInput = el.querySelector("[data-smooth]");
    this.smoothOut = el.querySelector("[data-smooth-out]");
    this.keys = Array.prototype.map.call(el.querySelectorAll(".chart[data-key]"),
      function (c) { return c.dataset.key; });
    var self = this;
    if (this.xSelect) this.xSelect.addEventListener("change", function () { self.redraw(); });
    if (this.smoothInput) this.smoothInput.addEventListener("input", function () {
      if (self.smoothOut) self.smoothOut.textContent = (+self.smoothInput.value).toFixed(2);
      if (!self.pending) {
        self.pending = true;
        requestAnimationFrame(function () { self.pending = false; self.redraw(); });
      }
    });
  }

  Group.prototype.mode = function () { return this.xSelect ? this.xSelect.value : "step"; };
  Group.prototype.weight = function () { return this.smoothInput ? +this.smoothInput.value : 0; };

  Group.prototype.url = function (keys, extra) {
    var width = 0;
    var plot = this.el.querySelector(".plot");
    if (plot) width = plot.clientWidth;
    var points = Math.max(400, Math.min(4000, Math.round((width || 480) * 2)));
    var q = keys.map(function (k) { return "key=" + encodeURIComponent(k); }).join("&");
    return this.source + (this.source.indexOf("?") < 0 ? "?" : "&") + q +
      "&max_points=" + points + (extra || "");
  };

  Group.prototype.load = function () {
    var self = this;
    if (this.embedded) {
      var node = document.getElementById(this.embedded);
      this.data = JSON.parse(node ? node.textContent : "{\"runs\": []}");
      var t0 = performance.now();
      this.redraw();
      this.el.dataset.drawn = "1";
      window.cairnTimings.push({ group: this.embedded, draw_ms: performance.now() - t0 });
      return Promise.resolve();
    }
    var start = performance.now();
    return fetch(this.url(this.keys), { headers: { Accept: "application/json" } })
      .then(function (r) { return r.json().then(function (body) { return [r, body]; }); })
      .then(function (pair) {
        if (!pair[0].ok) throw new Error((pair[1].error || {}).message || "cannot load");
        var fetched = performance.now();
        self.data = pair[1];
        self.redraw();
        var drawn = performance.now();
        var points = 0;
        self.data.runs.forEach(function (r) {
          Object.keys(r.series).forEach(function (k) { points += r.series[k].steps.length; });
        });
        var server = {};
        (pair[0].headers.get("Server-Timing") || "").split(",").forEach(function (part) {
          var m = /^\s*(\w+);dur=([\d.]+)/.exec(part);
          if (m) server[m[1] + "_ms"] = +m[2];
        });
        window.cairnTimings.push(Object.assign({ group: self.source, points: points,
          fetch_ms: fetched - start, draw_ms: drawn - fetched, total_ms: drawn - start }, server));
        self.el.dataset.drawn = "1";
        if (self.live) self.poll();
      })
      .catch(function (err) {
        self.el.querySelectorAll(".plot").forEach(function (p) {
          p.innerHTML = "<div class=\"empty\"></div>";
          p.firstChild.textContent = "Charts could not be loaded: " + err.message;
        });
      });
  };

  Group.prototype.poll = function () {
    var self = this;
    this.timer = setInterval(function () {
      fetch(self.url(self.keys)).then(function (r) { return r.json(); }).then(function (body) {
        if (!body.runs) return;
        self.data = body;
        self.update();
        var running = body.runs.some(function (r) { return r.status === "running"; });
        if (!running) clearInterval(self.timer);
      }).catch(function () { /* the next poll tries again */ });
    }, LIVE_MS);
  };

  Group.prototype.seriesFor = function (key) {
    // Per run (in the group's order): its series for `key`, or null.
    var byId = {};
    (this.data ? this.data.runs : []).forEach(function (r) { byId[r.id] = r; });
    return this.runs.map(function (run) {
      var r = byId[run.id];
      return r && r.series[key] ? r.series[key] : null;
    });
  };

  Group.prototype.aligned = function (key, detail) {
    var mode = this.mode(), w = this.weight(), tables = [], series = [{}];
    var list = detail || this.seriesFor(key);
    var runs = this.runs;
    list.forEach(function (s, i) {
      if (!s || !s.steps.length) return;
      var t0 = s.times[0];
      tables.push(runTable(s, mode, w, t0));
      var run = runs[i], colour = run.color;
      if (w) {
        series.push({ label: run.label + " raw", stroke: colour + "55", width: 1, spanGaps: true,
          value: function (u, v) { return fmtNumber(v); } });
      }
      series.push({ label: run.label, stroke: colour, width: w ? 2 : 1.6, spanGaps: true,
        value: function (u, v) { return fmtNumber(v); } });
    });
    if (!tables.length) return null;
    var data = tables.length === 1 ? tables[0] : uPlot.join(tables);
    return { data: data, series: series };
  };

  Group.prototype.options = function (key, series, width) {
    var mode = this.mode(), self = this;
    var axis = { stroke: "#59636e", grid: { stroke: "#eef1f4", width: 1 },
      ticks: { stroke: "#d1d9e0", width: 1 }, font: "11px system-ui, sans-serif" };
    series[0] = { label: mode === "step" ? "step" : mode === "time" ? "time" : "seconds" };
    return {
      width: width, height: HEIGHT, series: series,
      scales: { x: { time: mode === "time" } },
      axes: [Object.assign({}, axis), Object.assign({ size: 64,
        values: function (u, ticks) { return ticks.map(fmtNumber); } }, axis)],
      cursor: { drag: { x: true, y: false }, sync: { key: this.el.dataset.syncKey || "cairn" } },
      legend: { live: true },
      hooks: { setSelect: [function (u) { self.zoomed(key, u); }] },
    };
  };

  Group.prototype.draw = function (key) {
    var box = this.el.querySelector('.chart[data-key="' + CSS.escape(key) + '"]');
    if (!box) return;
    var plot = box.querySelector(".plot");
    var old = this.charts[key];
    if (old) { old.chart.destroy(); delete this.charts[key]; }
    plot.innerHTML = "";
    var built = this.aligned(key);
    var counter = box.querySelector("[data-points]");
    var counts = this.seriesFor(key).filter(Boolean).map(function (s) { return s.count; });
    if (counter) counter.textContent = counts.length ?
      Math.max.apply(null, counts).toLocaleString() + " points" : "";
    if (!built) {
      plot.innerHTML = "<div class=\"empty\">no points</div>";
      return;
    }
    var chart = new uPlot(this.options(key, built.series, plot.clientWidth || 480), built.data, plot);
    var self = this;
    chart.over.addEventListener("dblclick", function () {
      var entry = self.charts[key];
      if (entry && entry.detail) { entry.detail = false; self.draw(key); }
    });
    this.charts[key] = { chart: chart, detail: false };
  };

  Group.prototype.zoomed = function (key, u) {
    // Zoomed in on a downsampled series: ask the server for the points of that step range.
    if (this.embedded || this.mode() !== "step" || u.select.width < 2) return;
    var thinned = this.seriesFor(key).some(function (s) { return s && s.count > s.steps.length; });
    if (!thinned) return;
    var lo = u.posToVal(u.select.left, "x"), hi = u.posToVal(u.select.left + u.select.width, "x");
    var self = this;
    fetch(this.url([key], "&step_min=" + Math.floor(lo) + "&step_max=" + Math.ceil(hi)))
      .then(function (r) { return r.json(); })
      .then(function (body) {
        if (!body.runs) return;
        var byId = {};
        body.runs.forEach(function (r) { byId[r.id] = r.series[key] || null; });
        var built = self.aligned(key, self.runs.map(function (run) { return byId[run.id] || null; }));
        var entry = self.charts[key];
        if (!built || !entry) return;
        entry.detail = true;
        entry.chart.setData(built.data);
        entry.chart.setScale("x", { min: lo, max: hi });
      }).catch(function () { /* keep the coarse view */ });
  };

  Group.prototype.redraw = function () {
    var self = this;
    this.keys.forEach(function (k) { self.draw(k); });
  };

  Group.prototype.update = function () {
    // Live data: keep each chart's zoom unless it shows the whole series.
    var self = this;
    this.keys.forEach(function (k) {
      var entry = self.charts[k];
      if (!entry) { self.draw(k); return; }
      if (entry.detail) return;
      var built = self.aligned(k);
      if (!built) return;
      if (built.series.length !== entry.chart.series.length) { self.draw(k); return; }
      var x = entry.chart.scales.x, xs = entry.chart.data[0], min = x.min, max = x.max;
      var whole = !xs.length || (min <= xs[0] && max >= xs[xs.length - 1]);
      entry.chart.setData(built.data);
      if (!whole) entry.chart.setScale("x", { min: min, max: max });
    });
  };

  Group.prototype.resize = function () {
    var self = this;
    Object.keys(this.charts).forEach(function (k) {
      var entry = self.charts[k], plot = entry.chart.root.parentNode;
      if (plot && plot.clientWidth) entry.chart.setSize({ width: plot.clientWidth, height: HEIGHT });
    });
  };

  function startCharts() {
    if (typeof uPlot === "undefined") return;
    var groups = window.cairnGroups = [];
    document.querySelectorAll("[data-charts]").forEach(function (el) {
      var g = new Group(el);
      groups.push(g);
      g.load();
    });
    var timer = null;
    window.addEventListener("resize", function () {
      clearTimeout(timer);
      timer = setTimeout(function () { groups.forEach(function (g) { g.resize(); }); }, 120);
    });
  }

  function compareSelection() {
    // The runs table: "Compare selected" is enabled for 2 to 10 ticked runs.
    var form = document.getElementById("compare-form");
    if (!form) return;
    var n = form.querySelectorAll("input[name=runs]:checked").length;
    var button = document.getElementById("compare-button");
    var label = document.getElementById("selected-count");
    if (button) button.disabled = n < 2 || n > 10;
    if (label) label.textContent = n ? n + " selected " + (n > 10 ? "(at most 10) " : "") : "";
  }

  function onlyDifferences() {
    document.querySelectorAll("[data-only-diff]").forEach(function (box) {
      document.querySelectorAll(".compare-table").forEach(function (t) {
        t.classList.toggle("only-diff", box.checked);
      });
    });
  }

  function scrollLogs() {
    document.querySelectorAll("pre.log").forEach(function (pre) { pre.scrollTop = pre.scrollHeight; });
  }

  function start() {
    startCharts();
    compareSelection();
    onlyDifferences();
    scrollLogs();
    document.addEventListener("change", function (e) {
      var t = e.target;
      if (t.matches && t.matches("#compare-form input[name=runs]")) compareSelection();
      if (t.matches && t.matches("[data-only-diff]")) onlyDifferences();
    });
    document.body.addEventListener("htmx:afterSwap", function () {
      compareSelection();
      scrollLogs();
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
