/* Time-series charts with the vendored uPlot: load a chart URL (JSON: t[] and series[{label, values[]}]),
   draw it in the dark theme, switch windows with the tab buttons, and take live points. */
(function () {
  "use strict";
  const fmt = window.MDC.fmt;
  const PALETTE = ["#58b4ff", "#f5b83d", "#3fd18b", "#ff8a8a", "#c792ea", "#4dd0e1", "#ffa270", "#b5e48c"];
  const AXIS = { stroke: "#9aa7b4", grid: { stroke: "#222c3a", width: 1 }, ticks: { stroke: "#2a3544", width: 1 } };
  const SPANS = { "15m": 900, "1h": 3600, "24h": 86400, "30d": 2592000 };

  // Units of the deployment page's measures (energy.series): figures with an SI prefix, rates as numbers.
  const FIGURE_KINDS = { "J/token": "joules", "g/1k tokens": "grams", s: "seconds" };

  function valueFormat(unit) {
    if (unit === "W") return fmt.watts;
    if (unit in FIGURE_KINDS) return (v) => fmt.figure(v, FIGURE_KINDS[unit]);
    if (unit === "tokens/s" || unit === "req/s") return (v) => (v === null || v === undefined ? fmt.DASH : fmt.figure(v, "rate"));
    if (unit === "°C") return fmt.celsius;
    if (unit === "ratio") return fmt.percent;
    return (v) => (v === null || v === undefined ? fmt.DASH : String(v));
  }

  class Chart {
    constructor(el) {
      this.el = el;
      this.url = el.dataset.url;
      this.window = el.dataset.window || "1h";
      this.unit = el.dataset.unit || "";
      this.format = valueFormat(this.unit);
      this.plot = null;
      this.labels = [];
      this.data = null;
      new ResizeObserver(() => this.resize()).observe(el);
    }

    size() {
      return { width: Math.max(200, this.el.clientWidth), height: this.el.classList.contains("small-chart") ? 150 : 240 };
    }

    resize() {
      if (this.plot) this.plot.setSize(this.size());
    }

    async load(windowName) {
      if (windowName) this.window = windowName;
      const sep = this.url.includes("?") ? "&" : "?";
      let body;
      try {
        const response = await fetch(`${this.url}${sep}window=${encodeURIComponent(this.window)}`,
                                     { credentials: "same-origin", headers: { Accept: "application/json" } });
        body = await response.json();
        if (!response.ok) throw new Error(body.detail || response.statusText);
      } catch (err) {
        this.message(`Chart unavailable: ${err.message}`);
        return;
      }
      this.draw(body);
    }

    message(text) {
      if (this.plot) { this.plot.destroy(); this.plot = null; }
      this.el.innerHTML = "";
      const p = document.createElement("p");
      p.className = "empty";
      p.textContent = text;
      this.el.appendChild(p);
    }

    draw(body) {
      this.labels = body.series.map((s) => s.label);
      if (!body.t.length) {
        this.data = [[], ...body.series.map(() => [])];
        this.message(`No data in the last ${this.window} yet.`);
        return;
      }
      this.data = [body.t, ...body.series.map((s) => s.values)];
      this.render();
    }

    render() {
      if (this.plot) this.plot.destroy();
      this.el.innerHTML = "";
      const format = this.format;
      const opts = {
        ...this.size(),
        cursor: { drag: { x: false, y: false }, ...(this.el.dataset.sync ? { sync: { key: this.el.dataset.sync } } : {}) },
        legend: { live: true },
        scales: { x: { time: true } },
        series: [
          { value: (u, v) => (v === null || v === undefined ? "" : new Date(v * 1000).toLocaleString()) },
          ...this.labels.map((label, i) => ({
            label, stroke: PALETTE[i % PALETTE.length], width: 2, spanGaps: false,
            value: (u, v) => format(v),
          })),
        ],
        axes: [
          { ...AXIS },
          { ...AXIS, size: 70, values: (u, splits) => splits.map((v) => format(v)) },
        ],
      };
      this.plot = new uPlot(opts, this.data, this.el);
    }

    /** Add a live point: values maps series label -> value (labels not given stay empty). */
    append(t, values) {
      if (!this.data || this.window !== this.el.dataset.liveWindow) return;
      const last = this.data[0][this.data[0].length - 1];
      if (last !== undefined && t <= last) return;
      this.data[0].push(t);
      this.labels.forEach((label, i) => this.data[i + 1].push(label in values ? values[label] : null));
      // Keep only the window.
      const from = t - SPANS[this.window];
      while (this.data[0].length && this.data[0][0] < from) this.data.forEach((column) => column.shift());
      if (this.plot) this.plot.setData(this.data);
      else if (this.data[0].length > 1) this.render();
    }
  }

  function setup(el) {
    const chart = new Chart(el);
    const tabs = document.querySelector(`[data-chart-windows="${el.id}"]`);
    if (tabs) {
      tabs.addEventListener("click", (event) => {
        const button = event.target.closest("button[data-window]");
        if (!button) return;
        tabs.querySelectorAll("button").forEach((b) => b.setAttribute("aria-pressed", String(b === button)));
        chart.load(button.dataset.window);
      });
    }
    chart.load();
    return chart;
  }

  window.MDC.charts = { setup, Chart };
})();
