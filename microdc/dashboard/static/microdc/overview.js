/* Overview: PUE, power, node counts and alarms from the site summary; node rows and GPU power from node pushes. */
(function () {
  "use strict";
  const { fmt, live, charts } = window.MDC;
  const cfg = live.cfg;
  const site = `site.${cfg.site}`;
  const nodes = cfg.nodes || {};
  let summary = cfg.summary || null;
  const text = (id, value) => { const el = document.getElementById(id); if (el && el.textContent !== value) el.textContent = value; };

  const itChart = document.getElementById("it-chart");
  itChart.dataset.liveWindow = "1h";
  const chart = charts.setup(itChart);

  // A node is up while its agent has pushed within the stale timeout (the server's rule, on the server's clock).
  const isUp = (node) => node.last_seen !== null && live.ageSeconds(node.last_seen) <= cfg.staleSeconds;

  function counts() {
    const c = { up: 0, down: 0, maintenance: 0, offline: 0 };
    for (const node of Object.values(nodes)) {
      if (node.status === "active") c[isUp(node) ? "up" : "down"] += 1;
      else if (node.status in c) c[node.status] += 1;
    }
    return c;
  }

  function gpuPower() {
    let sum = 0, reporting = 0;
    for (const node of Object.values(nodes)) {
      if (isUp(node) && node.power_watts !== null && node.power_watts !== undefined) { sum += node.power_watts; reporting += 1; }
    }
    return { watts: reporting ? sum : null, nodes: reporting };
  }

  function renderNodes() {
    const c = counts();
    text("nodes-up", String(c.up));
    text("nodes-down", String(c.down));
    document.getElementById("nodes-down").classList.toggle("bad", c.down > 0);
    text("nodes-detail", `${c.maintenance} in maintenance · ${c.offline} offline`);
    const power = gpuPower();
    text("power-accelerators", fmt.watts(power.watts));
    text("power-accelerators-detail", `agents of ${power.nodes} nodes`);
    if (summary && summary.power.it_source !== "meters") text("power-it", fmt.watts(power.watts));
    for (const [id, node] of Object.entries(nodes)) {
      const row = document.querySelector(`tr[data-node="${id}"]`);
      if (!row) continue;
      const up = isUp(node);
      const word = node.status !== "active" ? node.status : up ? "up" : "down";
      const state = row.querySelector('[data-field="state"]');
      if (state.textContent !== word) {
        state.innerHTML = "";
        const dot = document.createElement("span");
        dot.className = `dot ${node.status !== "active" ? "off" : up ? "up" : "down"}`;
        dot.setAttribute("aria-hidden", "true");
        state.append(dot, word);
      }
      row.querySelector('[data-field="power"]').textContent = up ? fmt.watts(node.power_watts) : fmt.DASH;
    }
  }

  function renderPue(windowName, pue) {
    const card = document.getElementById(`pue-${windowName}`);
    if (!card || !pue) return;
    const field = (name) => card.querySelector(`[data-field="${name}"]`);
    card.classList.toggle("incomplete", !pue.available || !pue.complete);
    if (!pue.available) {
      field("value").textContent = fmt.DASH;
      field("category").textContent = "";
      field("state").textContent = "unavailable";
      field("state").className = "bad";
      field("reason").textContent = pue.reason;
      field("reason").title = pue.reason;
      return;
    }
    field("value").textContent = fmt.ratio(pue.pue);
    field("category").textContent = pue.category ? `category ${pue.category}` : "no category";
    field("state").textContent = pue.complete ? "complete" : "incomplete";
    field("state").className = pue.complete ? "ok" : "warn";
    field("reason").textContent = pue.complete ? "" : pue.reason;
    field("reason").title = pue.complete ? "" : pue.reason;
  }

  function boundary(id, detailId, part, noun) {
    text(id, fmt.watts(part.watts));
    text(detailId, `${part.reporting} of ${part.meters} ${noun}`);
  }

  function renderAlarms(alarms) {
    const list = document.getElementById("alarms");
    list.innerHTML = "";
    if (!alarms.length) {
      const li = document.createElement("li");
      li.className = "none";
      li.textContent = "No active alarms.";
      list.appendChild(li);
    }
    for (const alarm of alarms) {
      const li = document.createElement("li");
      li.className = `alarm ${alarm.severity} ${alarm.state}`;
      const sev = document.createElement("span");
      sev.className = "sev";
      sev.textContent = alarm.severity;
      const text = document.createElement(alarm.link ? "a" : "span");
      if (alarm.link) text.href = alarm.link;
      text.textContent = alarm.text;
      const meta = document.createElement("span");
      meta.className = "small muted";
      meta.textContent = ` since ${fmt.when(alarm.since)}` + (alarm.state === "nodata" ? " · no data now" : "")
        + (alarm.acknowledged_by ? ` · acknowledged by ${alarm.acknowledged_by}` : "");
      li.append(sev, " ", text);
      if (alarm.labels && alarm.labels.simulated === "true") {
        const badge = document.createElement("span");
        badge.className = "badge sim";
        badge.title = "Stands in for hardware that is not present";
        badge.textContent = "simulated";
        li.append(" ", badge);
      }
      li.append(meta);
      list.appendChild(li);
    }
    text("alarm-count", String(alarms.length));
  }

  function renderSummary() {
    if (!summary) return;
    renderPue("5m", summary.pue["5m"]);
    renderPue("24h", summary.pue["24h"]);
    boundary("power-facility", "power-facility-detail", summary.power.facility, "meters");
    boundary("power-cooling", "power-cooling-detail", summary.power.cooling, "meters");
    if (summary.power.it_source === "meters") boundary("power-it", "power-it-detail", summary.power.it, "IT meters");
    const p5 = summary.pue["5m"] || {}, p24 = summary.pue["24h"] || {};
    text("carbon-intensity", fmt.grams(p5.carbon_intensity_g_per_kwh));
    text("cue", fmt.ratio(p5.cue_kg_per_kwh, 3));
    text("cue-24h", fmt.ratio(p24.cue_kg_per_kwh, 3));
    renderAlarms(summary.alarms);
  }

  let lastChartPoint = 0;
  live.on((group, data) => {
    if (group !== site) return;
    if (data.nodes) {
      for (const [id, node] of Object.entries(data.nodes)) nodes[id] = { ...nodes[id], ...node };
      renderNodes();
      const now = Math.floor(live.serverNow() / 1000);
      const power = gpuPower();
      if (power.watts !== null && now - lastChartPoint >= 10) {
        lastChartPoint = now;
        chart.append(now, { "Accelerators (agents)": power.watts });
      }
    }
    if (data.summary) {
      summary = data.summary;
      renderSummary();
    }
  });
  live.onTick(renderNodes); // nodes go down by silence, not by a message
  live.setFreshness(() => {
    let newest = null;
    for (const node of Object.values(nodes)) {
      if (node.last_seen && (!newest || Date.parse(node.last_seen) > Date.parse(newest))) newest = node.last_seen;
    }
    return newest;
  });
  renderNodes();
  renderSummary();
})();
