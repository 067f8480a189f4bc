// Raters page: per-rater measures and flags; admins block and unblock.
(function () {
  "use strict";
  const root = document.getElementById("raters-page");
  const projectId = root.dataset.project;
  const isAdmin = root.dataset.role === "admin";
  const el = (id) => document.getElementById(id);
  const fmt = (v, d = 2) => (v === null || v === undefined ? "–" : Number(v).toFixed(d));
  const FLAG_NAMES = { too_fast: "too fast", constant: "constant answers", high_noise: "high noise" };
  let blocking = null;

  function csrf() {
    const m = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return m ? decodeURIComponent(m[1]) : "";
  }
  function banner(text, kind = "error") {
    el("banner").textContent = text; el("banner").className = `banner ${kind}`; el("banner").hidden = !text;
  }
  function td(content) {
    const cell = document.createElement("td");
    if (content instanceof Node) cell.appendChild(content); else cell.textContent = content;
    return cell;
  }
  const perTarget = (obj, show) => Object.entries(obj || {}).map(([t, v]) => `${t} ${show(v)}`).join(" · ") || "–";

  function flags(list) {
    const span = document.createElement("span");
    if (!list.length) span.textContent = "–";
    list.forEach((f) => {
      const b = document.createElement("span"); b.className = "flag"; b.textContent = FLAG_NAMES[f] || f;
      span.appendChild(b);
    });
    return span;
  }

  function actionButton(r) {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = r.blocked ? "Unblock" : "Block";
    b.addEventListener("click", () => (r.blocked ? unblock(r) : openBlock(r)));
    return b;
  }

  function render(raters) {
    el("raters-empty").hidden = raters.length > 0;
    el("raters").replaceChildren(...raters.map((r) => {
      const tr = document.createElement("tr");
      const state = document.createElement("span");
      if (r.blocked) {
        state.className = "blocked";
        state.textContent = `blocked${r.blocked.exclude_ratings ? ", ratings excluded" : ""}`;
        state.title = r.blocked.reason || "";
      } else state.textContent = "active";
      [r.username, r.ratings, fmt(r.median_seconds, 1),
        perTarget(r.noise, (v) => fmt(v, 3)),
        perTarget(r.crowd_agreement, (a) => `${fmt(a.mae, 3)} (r ${fmt(a.correlation)}, ${a.clips})`),
        r.gold ? perTarget(r.gold, (g) => (g ? `${fmt(g.mae, 3)} (${g.clips})` : "–")) : "no gold clips",
        flags(r.flags), state].forEach((c) => tr.appendChild(td(c)));
      if (isAdmin) tr.appendChild(td(actionButton(r)));
      return tr;
    }));
  }

  async function refresh() {
    const response = await fetch(`/api/v1/projects/${projectId}/raters/`, { credentials: "same-origin" });
    if (!response.ok) { banner(`Could not load the raters (${response.status}).`); return; }
    render(await response.json());
  }

  async function post(path, body) {
    const response = await fetch(`/api/v1/projects/${projectId}/raters/${path}`, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf() }, body: JSON.stringify(body || {}),
    });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) banner(data.detail || `Refused (${response.status}).`);
    return response.ok;
  }

  function openBlock(r) {
    blocking = r;
    el("block-name").textContent = r.username;
    el("block-reason").value = ""; el("block-exclude").checked = false;
    el("block-dialog").showModal();
  }
  async function unblock(r) {
    if (await post(`${r.id}/unblock/`)) { banner(`${r.username} is unblocked.`, "info"); refresh(); }
  }
  if (isAdmin) {
    el("block-dialog").addEventListener("close", async () => {
      if (el("block-dialog").returnValue !== "block" || !blocking) return;
      const ok = await post(`${blocking.id}/block/`, {
        reason: el("block-reason").value, exclude_ratings: el("block-exclude").checked,
      });
      if (ok) { banner(`${blocking.username} is blocked.`, "info"); refresh(); }
    });
    el("block-form").addEventListener("submit", (e) => {
      el("block-dialog").returnValue = e.submitter ? e.submitter.value : "cancel";
    });
  }
  refresh();
})();
