// Clips page: filterable, paginated clip list (every row opens the clip).
(function () {
  "use strict";
  const root = document.getElementById("clips-page");
  const projectId = root.dataset.project;
  const el = (id) => document.getElementById(id);
  const fmt = (v, d = 2) => (v === null || v === undefined ? "–" : Number(v).toFixed(d));
  const PAGE = 50;
  let page = 1;

  function banner(text, kind = "error") {
    el("banner").textContent = text; el("banner").className = `banner ${kind}`; el("banner").hidden = !text;
  }
  const clipUrl = (id) => `/projects/${projectId}/clips/${id}/`;
  const joined = (labels, pick) => Object.entries(labels).map(([t, l]) => `${t} ${pick(l)}`).join(" · ") || "–";

  function query() {
    const params = new URLSearchParams();
    new FormData(el("filters")).forEach((value, key) => { if (String(value).trim()) params.set(key, String(value).trim()); });
    params.set("page", page); params.set("page_size", PAGE);
    return params;
  }

  function row(c) {
    const tr = document.createElement("tr");
    tr.tabIndex = 0;
    const link = document.createElement("a"); link.href = clipUrl(c.id); link.textContent = c.id;
    const state = document.createElement("span");
    const shown = c.state === "awaiting_humans" && c.active_leases > 0 ? "leased" : c.state;
    state.className = `state ${shown}`; state.textContent = shown.replace("_", " ");
    const cells = [link, c.external_id || "", c.speaker || "", state, `${c.n_ratings} / ${c.ratings_wanted}`,
      joined(c.labels, (l) => fmt(l.value)), [...new Set(Object.values(c.labels).map((l) => l.source))].join(", ") || "–",
      joined(c.labels, (l) => fmt(l.agreement)), joined(c.labels, (l) => fmt(l.confidence, 3))];
    cells.forEach((content) => {
      const td = document.createElement("td");
      if (content instanceof Node) td.appendChild(content); else td.textContent = content;
      tr.appendChild(td);
    });
    tr.addEventListener("click", (e) => { if (e.target.tagName !== "A") window.location = clipUrl(c.id); });
    tr.addEventListener("keydown", (e) => { if (e.key === "Enter") window.location = clipUrl(c.id); });
    return tr;
  }

  async function load() {
    const response = await fetch(`/api/v1/projects/${projectId}/clips/?${query()}`, { credentials: "same-origin" });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) { banner(body.detail || `Could not load clips (${response.status}).`); return; }
    banner("");
    el("clips").replaceChildren(...body.results.map(row));
    el("clips-empty").hidden = body.results.length > 0;
    const pages = Math.max(1, Math.ceil(body.count / PAGE));
    el("count").textContent = `${body.count} clip${body.count === 1 ? "" : "s"}`;
    el("page").textContent = `page ${page} of ${pages}`;
    el("prev").disabled = page <= 1; el("next").disabled = page >= pages;
  }

  // Filters live in the address too, so a filtered list can be linked, reloaded and shared.
  function remember() {
    const params = query();
    params.delete("page_size");
    if (params.get("page") === "1") params.delete("page");
    history.replaceState(null, "", params.toString() ? `?${params}` : location.pathname);
  }
  const form = el("filters");
  new URLSearchParams(location.search).forEach((value, key) => {
    if (key === "page") page = Math.max(1, parseInt(value, 10) || 1);
    else if (form.elements[key]) form.elements[key].value = value;
  });
  form.addEventListener("submit", (e) => { e.preventDefault(); page = 1; remember(); load(); });
  form.addEventListener("reset", () => { page = 1; setTimeout(() => { remember(); load(); }, 0); });
  el("prev").addEventListener("click", () => { page -= 1; remember(); load(); });
  el("next").addEventListener("click", () => { page += 1; remember(); load(); });
  load();
})();
