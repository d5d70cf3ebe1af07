/* Deployment page: the energy figures of each window and the charts of one window, live. The ledger changes
   every 30 s; the deployment's watch sends the figures again when they change, and the charts of the shown
   window reload then (a bucket's values change while its minute or hour is still filling). */
(function () {
  "use strict";
  const { fmt, live, charts } = window.MDC;
  const cfg = live.cfg;
  const group = `deployment.${cfg.deployment}`;
  const tabs = document.querySelector('[data-chart-windows="deployment-charts"]');
  const plots = [...document.querySelectorAll("#deployment-charts .chart")].map((el) => charts.setup(el));
  let shown = "1h";

  tabs.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-window]");
    if (!button) return;
    shown = button.dataset.window;
    tabs.querySelectorAll("button").forEach((b) => b.setAttribute("aria-pressed", String(b === button)));
    plots.forEach((chart) => chart.load(shown));
  });

  function cell(td, figure, kind) {
    td.textContent = "";
    if (figure && figure.value !== null && figure.value !== undefined) {
      td.textContent = fmt.figure(figure.value, kind);
      return;
    }
    const dash = document.createElement("span");
    dash.className = "unknown";
    dash.textContent = fmt.EM_DASH;
    const why = document.createElement("span");
    why.className = "why small muted";
    why.textContent = (figure && figure.reason) || "";
    td.append(dash, " ", why);
  }

  function render(energy) {
    for (const w of cfg.windows) {
      const result = (energy.windows || {})[w];
      if (!result) continue;
      for (const row of document.querySelectorAll("#figures tr[data-figure]")) {
        const td = row.querySelector(`td[data-window="${w}"]`);
        if (!td) continue;
        if (row.dataset.figure === "complete") {
          td.innerHTML = result.complete ? '<span class="ok">complete</span>' : '<span class="warn">incomplete</span>';
        } else {
          cell(td, result.figures[row.dataset.figure], cfg.kinds[row.dataset.figure]);
        }
      }
    }
    const reasons = document.getElementById("reasons");
    reasons.textContent = "";
    for (const w of cfg.windows) {
      for (const text of ((energy.windows || {})[w] || {}).reasons || []) {
        const li = document.createElement("li");
        li.dataset.window = w;
        li.textContent = `${document.querySelector(`#figures thead th:nth-child(${cfg.windows.indexOf(w) + 2})`).textContent}: ${text}`;
        reasons.appendChild(li);
      }
    }
    const rules = ((energy.windows || {})["30d"] || {}).rules;
    if (rules && rules.length) {
      const list = document.getElementById("rules");
      list.textContent = "";
      for (const rule of rules) {
        const li = document.createElement("li");
        li.title = rule.rule;
        li.textContent = rule.words;
        list.appendChild(li);
      }
    }
  }

  live.on((g, data) => {
    if (g !== group || !data.energy) return;
    render(data.energy);
    plots.forEach((chart) => chart.load(shown));
    document.documentElement.dataset.energyUpdated = String(Date.now());
  });
})();
