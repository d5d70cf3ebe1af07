/* Number formats and the tile colour scale. microdc/dashboard/templatetags/dashboard.py formats the
   server-rendered values the same way, so a value looks the same before and after a live update. */
(function () {
  "use strict";
  const DASH = "–";

  function num(v) {
    if (v === null || v === undefined || v === "") return null;
    const n = Number(v);
    return Number.isFinite(n) ? n : null;
  }

  function watts(v) {
    v = num(v);
    if (v === null) return DASH;
    const a = Math.abs(v);
    if (a >= 1e6) return (v / 1e6).toFixed(2) + " MW";
    if (a >= 1e4) return (v / 1e3).toFixed(1) + " kW";
    if (a >= 1e3) return (v / 1e3).toFixed(2) + " kW";
    return v.toFixed(0) + " W";
  }
  const celsius = (v) => (num(v) === null ? DASH : num(v).toFixed(1) + " °C");
  const percent = (v) => (num(v) === null ? DASH : (num(v) * 100).toFixed(0) + " %");
  const ratio = (v, digits) => (num(v) === null ? DASH : num(v).toFixed(digits === undefined ? 2 : digits));
  const grams = (v) => (num(v) === null ? DASH : num(v).toFixed(0) + " g/kWh");
  const gib = (v) => (num(v) === null ? DASH : (num(v) / 2 ** 30).toFixed(1) + " GiB");
  const mhz = (v) => (num(v) === null ? DASH : (num(v) / 1e6).toFixed(0) + " MHz");

  // Energy and carbon figures in base units, as microdc/dashboard/figures.py writes them: three significant
  // digits and an SI prefix (41.2 mJ, 4.12 kJ); unknown is an em dash, never 0.
  const EM_DASH = "—";
  const PREFIXES = [[1e9, "G"], [1e6, "M"], [1e3, "k"], [1, ""], [1e-3, "m"], [1e-6, "µ"]];
  const FIGURE_UNITS = { joules: "J", wh: "Wh", grams: "g" };
  const three = (v) => Number(v.toPrecision(3));

  function figure(v, kind) {
    v = typeof v === "number" && Number.isFinite(v) ? v : null;
    if (v === null) return EM_DASH;
    if (kind in FIGURE_UNITS) {
      const unit = FIGURE_UNITS[kind];
      v = three(v);
      if (v === 0) return `0 ${unit}`;
      const [scale, prefix] = PREFIXES.find(([s]) => Math.abs(v) >= s) || PREFIXES[PREFIXES.length - 1];
      return `${three(v / scale)} ${prefix}${unit}`;
    }
    if (kind === "seconds") return Math.abs(v) < 1 ? `${three(v * 1000)} ms` : `${three(v)} s`;
    if (kind === "count") return Math.round(v).toLocaleString("en-US");
    if (kind === "share") return `${(v * 100).toFixed(0)} %`;
    if (kind === "ratio") return v.toFixed(2);
    return String(three(v));
  }

  function when(iso) {
    if (!iso) return "never";
    const d = new Date(iso);
    if (Number.isNaN(d.getTime())) return "never";
    const pad = (n) => String(n).padStart(2, "0");
    const today = new Date().toISOString().slice(0, 10);
    const date = d.toISOString().slice(0, 10);
    const hms = `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`;
    return date === today ? `${hms}:${pad(d.getUTCSeconds())} UTC` : `${date} ${hms} UTC`;
  }

  function age(seconds) {
    if (!Number.isFinite(seconds)) return "never";
    if (seconds < 90) return Math.max(0, Math.round(seconds)) + " s";
    if (seconds < 5400) return Math.round(seconds / 60) + " min";
    return Math.round(seconds / 3600) + " h";
  }

  /* The colour scale of rack tiles (same stops as .scale-bar in microdc.css): blue (low) to red (high). */
  const STOPS = ["#2c7bb6", "#00a6ca", "#00ccbc", "#90eb9d", "#ffff8c", "#f9d057", "#f29e2e", "#e76818", "#d7191c"];
  const rgb = (hex) => [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));

  function scale(value, min, max) {
    value = num(value);
    if (value === null) return null;
    const f = Math.min(1, Math.max(0, (value - min) / (max - min || 1)));
    const pos = f * (STOPS.length - 1);
    const i = Math.min(STOPS.length - 2, Math.floor(pos));
    const a = rgb(STOPS[i]), b = rgb(STOPS[i + 1]), t = pos - i;
    const c = a.map((x, k) => Math.round(x + (b[k] - x) * t));
    // Relative luminance decides the text colour, so the number stays readable on every shade.
    const lum = c.map((x) => { x /= 255; return x <= 0.03928 ? x / 12.92 : ((x + 0.055) / 1.055) ** 2.4; });
    const L = 0.2126 * lum[0] + 0.7152 * lum[1] + 0.0722 * lum[2];
    return { background: `rgb(${c.join(",")})`, color: L > 0.22 ? "#0b0f15" : "#ffffff" };
  }

  window.MDC = window.MDC || {};
  window.MDC.fmt = { num, watts, celsius, percent, ratio, grams, gib, mhz, when, age, scale, figure, DASH, EM_DASH };
})();
