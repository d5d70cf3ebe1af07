/* Alerts page: the board (open, then the last day's resolved) from the alerts.<site> watch, and the acknowledge
   and silence actions through the REST API (session + CSRF). */
(function () {
  "use strict";
  const { fmt, live } = window.MDC;
  const cfg = live.cfg;
  const group = `alerts.${cfg.site}`;
  const csrf = document.querySelector("input[name=csrfmiddlewaretoken]").value;
  const actions = document.getElementById("alert-actions");
  let waiting = null; // a board that arrived while someone was typing

  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function time(iso) {
    const t = el("time", "", fmt.when(iso));
    t.dateTime = iso;
    return t;
  }

  function row(a) {
    const li = el("li", `alert-row ${a.severity} ${a.state}`);
    li.dataset.alert = a.id;
    const main = el("div", "alert-main");
    const text = el(a.link ? "a" : "span", "text", a.text);
    if (a.link) text.href = a.link;
    main.append(el("span", "sev", a.severity), " ", el("span", "state", a.state), " ", text);
    if (a.labels.simulated === "true") {
      const badge = el("span", "badge sim", "simulated");
      badge.title = "Stands in for hardware that is not present";
      main.append(" ", badge);
    }
    const meta = el("div", "alert-meta small muted");
    meta.append(el("span", "", a.name), " · ", el("span", "", "since "), time(a.since));
    if (a.ends_at) meta.append(" · resolved ", time(a.ends_at));
    if (a.acknowledged_by) {
      const note = a.acknowledgement_comment ? `: “${a.acknowledgement_comment}”` : "";
      meta.append(" · ", el("span", "acked", `acknowledged by ${a.acknowledged_by} ${fmt.when(a.acknowledged_at)}${note}`));
    }
    if (a.silenced_by.length) meta.append(" · ", el("span", "silenced", "silenced"));
    li.append(main, meta);
    if (a.state !== "resolved") addActions(li, a);
    return li;
  }

  function addActions(li, a) {
    const box = el("div", "alert-actions");
    box.append(actions.content.cloneNode(true));
    if (a.acknowledged_by) box.querySelector('[data-action="ack"]').remove();
    if (!cfg.maySilence || a.silenced_by.length) box.querySelector('[data-action="silence"]').remove();
    box.querySelectorAll("form").forEach((form) => form.addEventListener("submit", (event) => {
      event.preventDefault();
      submit(form, a);
    }));
    li.append(box);
  }

  async function call(url, body) {
    const response = await fetch(url, {
      method: "POST", credentials: "same-origin", body: JSON.stringify(body),
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf, Accept: "application/json" },
    });
    if (!response.ok) {
      const detail = await response.json().catch(() => ({}));
      throw new Error(detail.detail || JSON.stringify(detail) || response.statusText);
    }
    return response.json();
  }

  async function submit(form, a) {
    const data = new FormData(form);
    const button = form.querySelector("button");
    button.disabled = true;
    try {
      if (form.dataset.action === "ack") {
        await call(`/api/v1/alerts/${a.id}/ack/`, { comment: data.get("comment") || "" });
      } else {
        const matchers = Object.entries(a.labels).filter(([name]) => name !== "severity")
          .map(([name, value]) => ({ name, value, isRegex: false, isEqual: true }));
        const ends = new Date(live.serverNow() + Number(data.get("hours")) * 3600 * 1000).toISOString();
        await call("/api/v1/silences/", { matchers, ends_at: ends, comment: data.get("comment") });
      }
      form.replaceChildren(el("span", "ok", form.dataset.action === "ack" ? "acknowledged" : "silenced"));
      if (waiting && !typing()) { const board = waiting; waiting = null; render(board); }
    } catch (err) {
      button.disabled = false;
      form.append(el("span", "bad small", ` ${err.message}`));
    }
  }

  function render(board) {
    for (const [id, rows, empty] of [["open-alerts", board.open, "Nothing is wrong right now."],
                                     ["recent-alerts", board.recent, "None."]]) {
      const list = document.getElementById(id);
      list.replaceChildren(...(rows.length ? rows.map(row) : [el("li", "none", empty)]));
    }
    document.getElementById("open-count").textContent = String(board.open.length);
    document.getElementById("recent-count").textContent = String(board.recent.length);
    live.critical(board.open.filter((a) => a.state === "firing" && a.severity === "critical"));
  }

  // While someone types a comment, the board waits (their text would be lost); it catches up when they leave.
  const typing = () => {
    const el = document.activeElement;
    return !!el && (el.tagName === "INPUT" || el.tagName === "SELECT") && !!el.closest(".alert-actions");
  };
  document.addEventListener("focusout", () => setTimeout(() => {
    if (waiting && !typing()) { const board = waiting; waiting = null; render(board); }
  }, 0));

  render(cfg.board);
  live.on((g, data) => {
    if (g !== group || !data.board) return;
    if (typing()) waiting = data.board;
    else render(data.board);
  });
})();
