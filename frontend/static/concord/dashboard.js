// Researchers and admins: clip states, the human queue, raters, model versions, retraining.
(function () {
  "use strict";
  const root = document.getElementById("dashboard");
  const projectId = root.dataset.project;
  const api = "/api/v1";
  const el = (id) => document.getElementById(id);
  const cell = (text) => { const td = document.createElement("td"); td.textContent = text; return td; };
  const row = (...cells) => { const tr = document.createElement("tr"); cells.forEach((c) => tr.appendChild(cell(c))); return tr; };

  function csrfToken() {
    const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  async function get(path) {
    const response = await fetch(`${api}${path}`, { credentials: "same-origin" });
    if (!response.ok) throw new Error(`${path}: ${response.status}`);
    return response.json();
  }

  function banner(message) { el("banner").textContent = message; el("banner").hidden = !message; }

  async function refresh() {
    try {
      const stats = await get(`/projects/${projectId}/stats/`);
      const items = [["clips", stats.clips], ["ratings", stats.ratings], ["raters", stats.raters],
        ...Object.entries(stats.states).map(([k, v]) => [k.replace("_", " "), v])];
      el("stats").replaceChildren(...items.map(([label, value]) => {
        const div = document.createElement("div");
        div.className = "stat";
        div.innerHTML = `<strong>${value}</strong>${label}`;
        return div;
      }));
      const queue = await get(`/projects/${projectId}/clips/?state=awaiting_humans&ordering=queue&page_size=20`);
      el("queue").replaceChildren(...queue.results.map((c) =>
        row(c.id, c.external_id || "", c.priority.toFixed(3), c.n_ratings, c.ratings_wanted)));
      const raters = await get(`/projects/${projectId}/raters/`);
      el("raters").replaceChildren(...raters.map((r) => row(
        r.username, r.ratings, r.reliability === null ? "-" : r.reliability.toFixed(2),
        Object.entries(r.noise).map(([t, v]) => `${t} ${v === null ? "unmeasured" : v.toFixed(3)}`).join(", "))));
      const models = await get(`/projects/${projectId}/models/`).catch(() => ({ results: [] }));
      const project = await get(`/projects/${projectId}/`);
      showPrior(project.prior, models.results.find((m) => m.metrics.prior));
      el("models").replaceChildren(...models.results.map((m) => row(
        m.name, m.is_active ? "yes" : "", perTarget(m.metrics.dev_ccc, 3),
        Object.entries(m.metrics.confidence_rank || {})
          .map(([t, v]) => `${t} ${v === null ? "too few clips" : v.toFixed(2)}`).join(", ") || "-",
        new Date(m.created_at).toLocaleString())));
      banner("");
    } catch (error) {
      banner(`Could not refresh: ${error.message}`);
    }
  }

  function perTarget(values, digits) {
    return Object.entries(values || {})
      .map(([t, v]) => `${t} ${v === null ? "-" : v.toFixed(digits)}`).join(", ") || "-";
  }

  // The prior the project starts from, and what the newest model made of it.
  function showPrior(prior, latest) {
    const verdict = latest ? latest.metrics.prior.why : "";
    const named = prior ? `Starts from prior ${prior}.` : (verdict ? "No prior named now." : "");
    el("prior").textContent = [named, verdict ? `Newest model: ${verdict}.` : ""].join(" ").trim();
    el("prior").hidden = !named;
  }

  async function watch(runId) {
    const run = await get(`/training-runs/${runId}/`);
    el("run").textContent = `Training run ${run.id}: ${run.state} (${Math.round(run.progress * 100)} %)` +
      (run.error ? ` — ${run.error}` : "");
    if (run.state === "queued" || run.state === "running") setTimeout(() => watch(runId), 2000);
    else refresh();
  }

  const retrain = el("retrain");
  if (retrain) {
    retrain.addEventListener("click", async () => {
      const response = await fetch(`${api}/projects/${projectId}/retrain/`, {
        method: "POST", credentials: "same-origin", headers: { "X-CSRFToken": csrfToken() },
      });
      const body = await response.json();
      if (response.status === 202) watch(body.run.id);
      else banner(body.detail || `Retrain refused (${response.status})`);
    });
  }
  refresh();
  setInterval(refresh, 10000);
})();
