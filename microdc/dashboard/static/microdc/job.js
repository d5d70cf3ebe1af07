/* Job page: Ansible output streams in from the job.<id> group, in counter order, each event once.
   After joining, it fetches what happened between the page render and the subscription (see watches.py). */
(function () {
  "use strict";
  const { live } = window.MDC;
  const cfg = live.cfg;
  const group = `job.${cfg.job}`;
  const log = document.getElementById("joblog");
  const follow = document.getElementById("follow");
  const seen = new Set([...log.querySelectorAll("[data-counter]")].map((el) => Number(el.dataset.counter)));
  let count = Number(document.getElementById("job-count").textContent) || 0;

  function add(events) {
    const fresh = events.filter((e) => !seen.has(e.counter)).sort((a, b) => a.counter - b.counter);
    for (const event of fresh) {
      seen.add(event.counter);
      count += 1;
      if (!event.stdout) continue;
      const span = document.createElement("span");
      span.className = `ev ev-${event.event}`;
      span.dataset.counter = String(event.counter);
      span.textContent = event.stdout + "\n";
      // Events can arrive out of order (live and catch-up): insert before the first later one.
      const later = [...log.children].find((el) => Number(el.dataset.counter) > event.counter);
      log.insertBefore(span, later || null);
    }
    document.getElementById("job-count").textContent = String(count);
    if (fresh.length && follow.checked) log.scrollTop = log.scrollHeight;
  }

  function status(value) {
    if (!value) return;
    const el = document.getElementById("job-status");
    el.textContent = value;
    el.className = `status-${value}`;
  }

  live.on((g, data) => {
    if (g !== group) return;
    add(data.events || []);
    status(data.status);
  });
  live.onSubscribed((groups) => {
    if (!groups.includes(group)) return;
    const after = Math.max(0, ...seen);
    fetch(`${location.pathname}events?after=${after}`, { credentials: "same-origin" })
      .then((r) => (r.ok ? r.json() : null))
      .then((body) => { if (body) { add(body.events); status(body.status !== "unknown" ? body.status : null); } })
      .catch(() => {});
  });
  if (follow.checked) log.scrollTop = log.scrollHeight;
})();
