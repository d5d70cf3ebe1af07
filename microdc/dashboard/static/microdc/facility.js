/* Facility page: meter power, freshness and health from the site summary and meter pushes; 24 h charts. */
(function () {
  "use strict";
  const { fmt, live, charts } = window.MDC;
  const cfg = live.cfg;
  const site = `site.${cfg.site}`;
  const meters = {};
  document.querySelectorAll(".meter .chart").forEach((el) => charts.setup(el));

  function renderMeter(id, meter) {
    const card = document.querySelector(`.meter[data-meter="${id}"]`);
    if (!card) return;
    meters[id] = { ...meters[id], ...meter };
    card.classList.toggle("stale", !!meter.stale);
    const power = card.querySelector('[data-field="power"]');
    if (power) power.textContent = fmt.watts(meter.power_watts);
    const ts = card.querySelector('[data-field="ts"]');
    if (ts) ts.textContent = fmt.when(meter.ts);
  }

  function renderHealth(health) {
    for (const [id, status] of Object.entries(health || {})) {
      const el = document.querySelector(`.meter[data-meter="${id}"] [data-field="health"]`);
      if (!el) continue;
      const span = document.createElement("span");
      span.className = status.healthy ? "ok" : status.stale ? "warn" : "bad";
      span.textContent = status.healthy ? "healthy" : status.stale ? "stale" : "failing";
      el.replaceChildren(span);
    }
  }

  live.on((group, data) => {
    if (group !== site) return;
    if (data.summary) {
      for (const [id, meter] of Object.entries(data.summary.meters || {})) renderMeter(id, meter);
      renderHealth(data.summary.health);
    }
    for (const [id, meter] of Object.entries(data.meters || {})) renderMeter(id, meter);
  });
  live.setFreshness(() => {
    let newest = null;
    for (const meter of Object.values(meters)) {
      if (meter.ts && (!newest || Date.parse(meter.ts) > Date.parse(newest))) newest = meter.ts;
    }
    return newest;
  });
  if (cfg.summary) for (const [id, meter] of Object.entries(cfg.summary.meters || {})) renderMeter(id, meter);
})();
