// critmin pages: draw Plotly figures embedded as JSON, follow a run's progress over server-sent events,
// cancel and release through the API (the session's CSRF token in X-CSRF-Token). No external requests.
(function () {
  "use strict";
  const csrf = () => (document.querySelector('meta[name="csrf-token"]') || {}).content || "";

  document.querySelectorAll("script[data-figure]").forEach((s) => {
    const fig = JSON.parse(s.textContent);
    const el = document.getElementById(s.dataset.figure);
    if (el && window.Plotly) {
      Plotly.newPlot(el, fig.data, fig.layout, { displaylogo: false, responsive: true });
    }
  });

  const box = document.getElementById("progress");
  if (box && ["queued", "running"].includes(box.dataset.status)) {
    const bar = box.querySelector(".bar");
    const text = document.getElementById("progress-text");
    const es = new EventSource("/api/runs/" + box.dataset.run + "/events");
    es.addEventListener("progress", (ev) => {
      const d = JSON.parse(ev.data);
      const pct = Math.round(100 * d.progress);
      bar.style.width = pct + "%";
      text.textContent = d.status + " · " + pct + "%";
      box.dataset.status = d.status;
      if (["done", "failed", "cancelled"].includes(d.status)) {
        es.close();
        setTimeout(() => window.location.reload(), 300);
      }
    });
    es.onerror = () => es.close();
  }

  const cancel = document.getElementById("cancel");
  if (cancel) {
    cancel.addEventListener("click", async () => {
      await fetch("/api/runs/" + cancel.dataset.run + "/cancel", { method: "POST", headers: { "X-CSRF-Token": csrf() } });
      window.location.reload();
    });
  }

  const rel = document.getElementById("release");
  if (rel) {
    rel.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const rel_to = Array.from(rel.querySelectorAll('input[name="rel_to"]')).filter((i) => i.checked).map((i) => i.value);
      const pub = rel.querySelector('input[name="public"]').checked;
      const r = await fetch("/api/runs/" + rel.dataset.run + "/release", {
        method: "POST", headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf() },
        body: JSON.stringify({ rel_to: rel_to, public: pub }),
      });
      const d = await r.json();
      document.getElementById("release-result").textContent = r.ok ? "released: " + d.label.marking : d.detail;
      if (r.ok) setTimeout(() => window.location.reload(), 500);
    });
  }
})();
