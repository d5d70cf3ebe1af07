/* Node page: every accelerator's live values and throttle reasons, agent last-seen, and live chart points. */
(function () {
  "use strict";
  const { fmt, live, charts } = window.MDC;
  const cfg = live.cfg;
  const group = `node.${cfg.node}`;
  let node = cfg.nodes[String(cfg.node)];
  const words = cfg.throttleWords || {};
  const FORMATS = {
    power_watts: fmt.watts, power_limit_watts: fmt.watts, temperature_celsius: fmt.celsius,
    memory_temperature_celsius: fmt.celsius, utilization_ratio: fmt.percent, memory_used_bytes: fmt.gib,
    sm_clock_hertz: fmt.mhz,
    ecc_uncorrected_errors_total: (v) => (v === null || v === undefined ? fmt.DASH : String(v)),
  };

  const chartEls = ["chart-power", "chart-temp"].map((id) => document.getElementById(id));
  const plots = chartEls.map((el) => { el.dataset.liveWindow = "15m"; return [el.dataset.metric, charts.setup(el)]; });

  const up = () => node.last_seen !== null && live.ageSeconds(node.last_seen) <= cfg.staleSeconds;

  function renderThrottle(el, reasons) {
    el.querySelectorAll(".chip").forEach((chip) => chip.remove());
    const list = reasons && reasons.length ? reasons : [null];
    for (const reason of list) {
      const chip = document.createElement("span");
      chip.className = reason === null ? "chip ok" : (cfg.badThrottle || []).includes(reason) ? "chip bad" : "chip info";
      chip.textContent = reason === null ? "not throttled" : words[reason] || reason.replaceAll("_", " ");
      el.appendChild(chip);
    }
  }

  function render() {
    const isUp = up();
    const agent = document.getElementById("agent-state");
    agent.querySelector(".dot").className = `dot ${isUp ? "up" : "down"}`;
    agent.querySelector('[data-field="up"]').textContent = isUp ? "reporting" : "silent";
    const seen = document.getElementById("last-seen");
    seen.textContent = node.last_seen ? `${fmt.when(node.last_seen)} (${fmt.age(live.ageSeconds(node.last_seen))} ago)` : "never";
    document.getElementById("node-power").textContent = fmt.watts(node.power_watts);
    for (const accelerator of node.accelerators || []) {
      const card = document.querySelector(`.acc[data-acc="${accelerator.id}"]`);
      if (!card) continue;
      card.classList.toggle("stale", accelerator.stale || !isUp);
      for (const dd of card.querySelectorAll("dd[data-metric]")) {
        const format = FORMATS[dd.dataset.metric] || String;
        dd.textContent = format(accelerator.values[dd.dataset.metric]);
      }
      card.querySelector('[data-field="ts"]').textContent = fmt.when(accelerator.ts);
    }
  }

  live.on((g, data) => {
    if (g !== group || !data.nodes) return;
    const update = data.nodes[String(cfg.node)];
    if (!update) return;
    node = { ...node, ...update };
    render();
    for (const accelerator of node.accelerators || []) {
      const card = document.querySelector(`.acc[data-acc="${accelerator.id}"]`);
      if (card) renderThrottle(card.querySelector('[data-field="throttle"]'), accelerator.throttle_reasons);
    }
    const newest = Math.max(...(node.accelerators || []).map((a) => (a.ts ? Date.parse(a.ts) / 1000 : 0)));
    if (newest > 0) {
      for (const [metric, chart] of plots) {
        const values = {};
        for (const a of node.accelerators) if (metric in a.values) values[`${a.kind.toUpperCase()} ${a.index}`] = a.values[metric];
        chart.append(Math.floor(newest), values);
      }
    }
  });
  live.onTick(render);
  live.setFreshness(() => node.last_seen);
  render();
})();
