/* The live connection: one websocket per page to /ws/live/, subscribed to the page's groups.

   - Reconnects with exponential backoff (0.5 s doubling to 30 s, with jitter so a room of wall screens does
     not reconnect in step) and subscribes again; a hidden tab that becomes visible retries at once.
   - Shows its state in the top bar, and a banner when the connection is lost or the newest data on the page
     is older than the stale timeout (pages say how old their data is through setFreshness).
   - Kiosk mode (?kiosk=1): a clock, and the pages rotate every `rotate` seconds (0 stops it). */
(function () {
  "use strict";
  const cfgEl = document.getElementById("live-config");
  if (!cfgEl) return;
  const cfg = JSON.parse(cfgEl.textContent);
  const fmt = window.MDC.fmt;
  const offset = cfg.serverNow - Date.now(); // server clock minus this browser's
  const BASE_DELAY = 500, MAX_DELAY = 30000, BANNER_AFTER = 5000;

  const groups = new Set(cfg.groups || []);
  const handlers = [], tickers = [], subscribedHandlers = [];
  let ws = null, attempt = 0, state = "connecting", retryAt = 0, lostSince = null, opened = false;
  let freshness = null;
  const statusEl = document.getElementById("live-status");
  const banner = document.getElementById("stale-banner");

  const serverNow = () => Date.now() + offset;
  const ageSeconds = (iso) => (iso ? (serverNow() - Date.parse(iso)) / 1000 : Infinity);

  function connect() {
    state = attempt ? "reconnecting" : "connecting";
    opened = false;
    render();
    const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws/live/";
    try {
      ws = new WebSocket(url);
    } catch (err) {
      retry();
      return;
    }
    ws.onopen = () => {
      opened = true;
      attempt = 0;
      state = "live";
      lostSince = null;
      if (groups.size) ws.send(JSON.stringify({ subscribe: [...groups] }));
      render();
    };
    ws.onmessage = (event) => {
      let msg;
      try { msg = JSON.parse(event.data); } catch (err) { return; }
      if (msg.type === "update") {
        for (const handler of handlers) {
          try { handler(msg.group, msg.data); } catch (err) { console.error("live update handler", err); }
        }
      } else if (msg.type === "subscribed") {
        // Marks the page as receiving (scripts and tests can wait for it).
        document.documentElement.dataset.liveGroups = msg.groups.join(" ");
        subscribedHandlers.forEach((fn) => fn(msg.groups));
      } else if (msg.type === "error") {
        console.warn("live:", msg.detail);
      }
    };
    ws.onclose = (event) => {
      ws = null;
      delete document.documentElement.dataset.liveGroups;
      if (lostSince === null) lostSince = Date.now();
      if (event.code === 4401) { end(); return; }
      // Refused before it opened: maybe the session is gone. Ask the page itself (a login redirect says so).
      if (!opened && attempt > 0) {
        fetch(location.pathname, { method: "HEAD", redirect: "manual", cache: "no-store" })
          .then((r) => (r.type === "opaqueredirect" ? end() : retry()))
          .catch(retry);
      } else {
        retry();
      }
    };
  }

  function retry() {
    const delay = Math.min(MAX_DELAY, BASE_DELAY * 2 ** attempt) * (0.75 + Math.random() * 0.5);
    attempt += 1;
    retryAt = Date.now() + delay;
    state = "reconnecting";
    render();
    setTimeout(connect, delay);
  }

  function end() {
    state = "ended";
    render();
    if (cfg.kiosk) setTimeout(() => location.reload(), 10000); // a wall screen goes to the login page
  }

  function render() {
    if (statusEl) {
      statusEl.className = "live-status " + state;
      const wait = Math.max(0, Math.ceil((retryAt - Date.now()) / 1000));
      statusEl.textContent = {
        live: "Live",
        connecting: "Connecting…",
        reconnecting: wait > 0 ? `Reconnecting in ${wait} s` : "Reconnecting…",
        ended: "Session ended",
      }[state];
    }
    if (!banner) return;
    let text = "", offline = false;
    if (state === "ended") {
      text = "Your session has ended: reload the page to log in again. Values below are no longer updated.";
      offline = true;
    } else if (state !== "live" && lostSince !== null && Date.now() - lostSince > BANNER_AFTER) {
      text = `Connection to the appliance lost ${fmt.age((Date.now() - lostSince) / 1000)} ago: values below may be old.`;
      offline = true;
    } else if (freshness) {
      const newest = freshness();
      const seconds = ageSeconds(newest);
      if (newest && seconds > cfg.staleSeconds) text = `No new data for ${fmt.age(seconds)}: values below may be old.`;
    }
    banner.hidden = !text;
    banner.textContent = text;
    banner.classList.toggle("offline", offline);
  }

  function tick() {
    render();
    for (const fn of tickers) {
      try { fn(); } catch (err) { console.error("tick", err); }
    }
    const clock = document.getElementById("clock");
    if (clock) clock.textContent = new Date().toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  }

  function rotate() {
    if (!cfg.kiosk || !cfg.rotate) return;
    const order = ["/", "/racks/", "/facility/"];
    const here = order.indexOf(location.pathname);
    const next = order[(here + 1) % order.length];
    const params = new URLSearchParams({ kiosk: "1", rotate: String(cfg.rotate) });
    const site = new URLSearchParams(location.search).get("site");
    if (site) params.set("site", site);
    setTimeout(() => location.assign(next + "?" + params), cfg.rotate * 1000);
  }

  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible" && !ws && state === "reconnecting") { attempt = 0; connect(); }
  });
  for (const select of document.querySelectorAll("select[data-autosubmit]")) {
    select.addEventListener("change", () => select.form.submit());
  }

  const needed = groups.size > 0; // a page that shows nothing live (the job list) opens no socket
  if (!needed && statusEl) statusEl.hidden = true;

  /* The critical banner every page carries: count and the worst summary, from a site summary
     ({count, unacknowledged, summary}) or a list of firing critical alerts (the alerts page's board). */
  const critical = document.getElementById("critical-banner");
  function renderCritical(info) {
    if (!critical) return;
    if (Array.isArray(info)) {
      info = { count: info.length, unacknowledged: info.filter((a) => !a.acknowledged_by).length,
               summary: info.length ? info[0].text : "" };
    }
    critical.hidden = !info.count;
    critical.classList.toggle("unacknowledged", info.unacknowledged > 0);
    critical.querySelector('[data-critical="count"]').textContent = String(info.count);
    critical.querySelector('[data-critical="noun"]').textContent = info.count === 1 ? "critical alert" : "critical alerts";
    critical.querySelector('[data-critical="summary"]').textContent = info.summary;
  }
  handlers.push((group, data) => { if (data && data.summary && data.summary.critical) renderCritical(data.summary.critical); });

  window.MDC.live = {
    cfg,
    critical: renderCritical,
    serverNow,
    ageSeconds,
    /** handler(group, data) for every update of every group this page joined. */
    on: (handler) => handlers.push(handler),
    onSubscribed: (fn) => subscribedHandlers.push(fn),
    /** Called every second: mark what has gone stale. */
    onTick: (fn) => tickers.push(fn),
    /** fn() -> ISO time of the newest data on the page, for the "no new data" banner. */
    setFreshness: (fn) => { freshness = fn; },
    state: () => state,
  };
  if (needed) connect();
  setInterval(tick, 1000);
  tick();
  rotate();
})();
