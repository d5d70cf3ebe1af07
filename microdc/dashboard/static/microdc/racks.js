/* Rack elevation: colour every accelerator tile by the chosen measure, with its number on it, and keep tiles,
   node states and PDU loads live from the rack groups. */
(function () {
  "use strict";
  const { fmt, live } = window.MDC;
  const cfg = live.cfg;
  const nodes = cfg.nodes || {};
  const meters = cfg.meters || {};
  let measure = cfg.measure;

  const MEASURES = {
    temperature: { ...cfg.measures.temperature, format: fmt.celsius, value: (v) => v.temperature_celsius },
    power: { ...cfg.measures.power, format: fmt.watts, value: (v) => v.power_watts },
    utilization: { ...cfg.measures.utilization, format: fmt.percent,
                   value: (v) => (v.utilization_ratio === undefined ? undefined : v.utilization_ratio * 100),
                   text: (v) => fmt.percent(v.utilization_ratio) },
  };

  const nodeUp = (node) => node.last_seen !== null && live.ageSeconds(node.last_seen) <= cfg.staleSeconds;

  function renderScale() {
    const m = MEASURES[measure];
    const ticks = document.getElementById("scale-ticks");
    ticks.innerHTML = "";
    for (let i = 0; i <= 4; i++) {
      const span = document.createElement("span");
      span.textContent = `${Math.round(m.min + ((m.max - m.min) * i) / 4)}${i === 4 ? " " + m.unit : ""}`;
      ticks.appendChild(span);
    }
    document.getElementById("scale-caption").textContent =
      `${m.label}, ${m.min}–${m.max} ${m.unit}; every tile also shows its number`;
  }

  function renderTile(tile, node, accelerator) {
    const m = MEASURES[measure];
    const values = accelerator.values || {};
    const value = m.value(values);
    const label = `${accelerator.kind.toUpperCase()} ${accelerator.index}`;
    const shown = m.text ? m.text(values) : m.format(value);
    const stale = accelerator.stale || !nodeUp(node);
    tile.querySelector(".tile-value").textContent = shown;
    // A down node says so once; a GPU gone quiet on a live node says it on its own tile.
    tile.querySelector(".tile-label").textContent = accelerator.stale && nodeUp(node) ? `${label} · stale` : label;
    tile.classList.toggle("stale", stale);
    const colours = stale ? null : fmt.scale(value, m.min, m.max);
    tile.style.background = colours ? colours.background : "";
    tile.style.color = colours ? colours.color : "";
    tile.setAttribute("aria-label", `${label}: ${shown}${stale ? " (stale)" : ""}`);
    tile.title = `${label} · ${fmt.celsius(values.temperature_celsius)} · ${fmt.watts(values.power_watts)}` +
      ` of ${fmt.watts(values.power_limit_watts)} · ${fmt.percent(values.utilization_ratio)} busy` +
      (accelerator.throttle_reasons && accelerator.throttle_reasons.length ? ` · throttled: ${accelerator.throttle_reasons.join(", ")}` : "");
  }

  function renderNode(id) {
    const node = nodes[id];
    const box = document.querySelector(`.node-box[data-node="${id}"]`);
    if (!node || !box) return;
    const up = nodeUp(node);
    box.classList.toggle("down", node.status === "active" && !up);
    const dot = box.querySelector(".dot");
    if (dot) dot.className = `dot ${node.status !== "active" ? "off" : up ? "up" : "down"}`;
    const state = box.querySelector('[data-field="state"]');
    if (state) state.textContent = node.status !== "active" ? node.status : up ? "" : "down";
    for (const accelerator of node.accelerators || []) {
      const tile = box.querySelector(`.tile[data-acc="${accelerator.id}"]`);
      if (tile) renderTile(tile, node, accelerator);
    }
    const row = document.querySelector(`tr[data-node-row="${id}"]`);
    if (row) {
      const fresh = up ? (node.accelerators || []).filter((a) => !a.stale).map((a) => a.values) : [];
      const temps = fresh.map((v) => v.temperature_celsius).filter((v) => v !== undefined);
      const busy = fresh.map((v) => v.utilization_ratio).filter((v) => v !== undefined);
      row.querySelector('[data-field="state"]').textContent = node.status !== "active" ? node.status : up ? "up" : "down";
      row.querySelector('[data-field="power"]').textContent = fmt.watts(up ? node.power_watts : null);
      row.querySelector('[data-field="hottest"]').textContent = fmt.celsius(temps.length ? Math.max(...temps) : null);
      row.querySelector('[data-field="busy"]').textContent =
        fmt.percent(busy.length ? busy.reduce((a, b) => a + b, 0) / busy.length : null);
    }
  }

  function renderMeter(id) {
    const meter = meters[id];
    for (const el of document.querySelectorAll(`[data-meter="${id}"] [data-field="power"]`)) {
      el.textContent = fmt.watts(meter.power_watts);
      el.classList.toggle("stale", !!meter.stale);
    }
  }

  const renderAll = () => Object.keys(nodes).forEach(renderNode);

  for (const input of document.querySelectorAll('input[name="measure"]')) {
    input.addEventListener("change", () => {
      measure = input.value;
      const url = new URL(location.href);
      url.searchParams.set("measure", measure);
      history.replaceState(null, "", url);
      renderScale();
      renderAll();
    });
  }

  live.on((group, data) => {
    if (!group.startsWith("rack.")) return;
    for (const [id, node] of Object.entries(data.nodes || {})) {
      nodes[id] = { ...nodes[id], ...node };
      renderNode(id);
    }
    for (const [id, meter] of Object.entries(data.meters || {})) {
      meters[id] = { ...meters[id], ...meter };
      renderMeter(id);
    }
  });
  live.onTick(renderAll); // a silent node's tiles turn stale without any message
  live.setFreshness(() => {
    let newest = null;
    for (const node of Object.values(nodes)) {
      if (node.last_seen && (!newest || Date.parse(node.last_seen) > Date.parse(newest))) newest = node.last_seen;
    }
    return newest;
  });
  renderScale();
  renderAll();
})();
