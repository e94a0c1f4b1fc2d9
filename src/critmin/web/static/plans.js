// critmin plan pages: follow a plan's progress over server-sent events (/api/plans/ID/events), cancel and
// release it through the API (the session's CSRF token in X-CSRF-Token). No external requests.
(function () {
  "use strict";
  const csrf = () => (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  const api = (id) => "/api/plans/" + id;

  const box = document.getElementById("plan-progress");
  if (box && ["queued", "running"].includes(box.dataset.status)) {
    const bar = box.querySelector(".bar");
    const text = document.getElementById("plan-progress-text");
    const es = new EventSource(api(box.dataset.plan) + "/events");
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

  const cancel = document.getElementById("plan-cancel");
  if (cancel) {
    cancel.addEventListener("click", async () => {
      await fetch(api(cancel.dataset.plan) + "/cancel", { method: "POST", headers: { "X-CSRF-Token": csrf() } });
      window.location.reload();
    });
  }

  const rel = document.getElementById("plan-release");
  if (rel) {
    rel.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const rel_to = Array.from(rel.querySelectorAll('input[name="rel_to"]')).filter((i) => i.checked).map((i) => i.value);
      const pub = rel.querySelector('input[name="public"]').checked;
      const r = await fetch(api(rel.dataset.plan) + "/release", {
        method: "POST", headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf() },
        body: JSON.stringify({ rel_to: rel_to, public: pub }),
      });
      const d = await r.json();
      document.getElementById("plan-release-result").textContent = r.ok ? "released: " + d.label.marking : d.detail;
      if (r.ok) setTimeout(() => window.location.reload(), 500);
    });
  }
})();
