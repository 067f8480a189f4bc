// Operations page (admins): retrain with live progress, cancel, run history, settings,
// pause / resume, revoking a model version's machine labels, the audit log.
(function () {
  "use strict";
  const root = document.getElementById("operations");
  const projectId = root.dataset.project;
  const api = "/api/v1";
  const el = (id) => document.getElementById(id);
  const LIVE = ["queued", "running"];
  const AUDIT_PAGE = 20;
  let settings = null; // the project's settings as last read
  let watching = null; // the id of the live run being watched
  let watchTimer = null;
  let auditPage = 1;
  let revoking = null;

  function csrf() {
    const m = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return m ? decodeURIComponent(m[1]) : "";
  }
  function banner(text, kind = "error") {
    el("banner").textContent = text || "";
    el("banner").className = `banner ${kind}`;
    el("banner").hidden = !text;
  }
  async function get(path) {
    const response = await fetch(`${api}${path}`, { credentials: "same-origin" });
    if (!response.ok) throw new Error(`${path} answered ${response.status}`);
    return response.json();
  }
  async function send(method, path, body) {
    const response = await fetch(`${api}${path}`, {
      method, credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf() },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const data = await response.json().catch(() => ({}));
    return { status: response.status, ok: response.ok, data };
  }

  // Table cells carry their column name, so narrow screens show each row as a card.
  function fill(tbody, rows) {
    const heads = [...tbody.closest("table").querySelectorAll("thead th")].map((th) => th.textContent);
    tbody.replaceChildren(...rows.map((cells) => {
      const tr = document.createElement("tr");
      cells.forEach((content, i) => {
        const td = document.createElement("td");
        td.dataset.label = heads[i] || "";
        if (content instanceof Node) td.appendChild(content); else td.textContent = content;
        tr.appendChild(td);
      });
      return tr;
    }));
  }
  function empty(name, isEmpty) {
    el(`${name}-empty`).hidden = !isEmpty;
    el(name).closest("table").hidden = isEmpty;
  }
  const when = (iso) => (iso ? new Date(iso).toLocaleString() : "–");
  function duration(run) {
    if (!run.started_at) return "–";
    const end = run.finished_at ? new Date(run.finished_at) : new Date();
    const s = Math.max(0, Math.round((end - new Date(run.started_at)) / 1000));
    return s < 60 ? `${s} s` : `${Math.floor(s / 60)} min ${s % 60} s`;
  }
  const perTarget = (values, digits = 2) => Object.entries(values || {})
    .map(([t, v]) => `${t} ${v === null || v === undefined ? "–" : Number(v).toFixed(digits)}`).join(" · ") || "–";
  const OUTCOMES = {
    promoted: "new model promoted", not_better: "not better: previous model kept",
    unchanged: "nothing changed: no new model",
  };
  function badge(text, kind) {
    const span = document.createElement("span");
    span.className = `state ${kind || text}`;
    span.textContent = text;
    return span;
  }

  // ---- Retraining ---------------------------------------------------------------
  function notice(title, text, kind = "warn") {
    el("retrain-notice").className = `notice ${kind}`;
    el("retrain-notice-title").textContent = title || "";
    el("retrain-notice-text").textContent = text || "";
    el("retrain-notice").hidden = !title && !text;
  }
  function showLive(run) {
    const live = run && LIVE.includes(run.state);
    el("retrain").disabled = !!live;
    el("cancel-run").hidden = !live;
    el("cancel-run").disabled = !!(run && run.cancel_requested);
    el("run-live").hidden = !run;
    if (!run) return;
    el("run-progress").value = run.progress;
    const pct = Math.round(run.progress * 100);
    const text = {
      queued: `Run ${run.id} is queued, waiting for a worker…`,
      running: `Run ${run.id} is running: ${pct} %` + (run.cancel_requested ? " (cancel requested, stopping at the next checkpoint)" : ""),
      succeeded: `Run ${run.id} finished: ${OUTCOMES[run.outcome] || "done"}` + (run.model_version ? ` (${run.model_version})` : "") + ".",
      failed: `Run ${run.id} failed: ${run.error || "no reason given"}`,
      cancelled: `Run ${run.id} was cancelled; the previous model stays active.`,
    }[run.state] || `Run ${run.id}: ${run.state}`;
    el("run-status").textContent = text;
  }
  async function watch(runId) {
    clearTimeout(watchTimer);
    watching = runId;
    let run;
    try {
      run = await get(`/training-runs/${runId}/`);
    } catch (error) {
      el("run-status").textContent = `Lost touch with run ${runId} (${error.message}); retrying…`;
      watchTimer = setTimeout(() => watch(runId), 5000);
      return;
    }
    if (watching !== runId) return;
    showLive(run);
    if (LIVE.includes(run.state)) {
      watchTimer = setTimeout(() => watch(runId), 1500);
    } else {
      watching = null;
      loadRuns();
      loadVersions();
      loadAudit();
    }
  }
  async function loadRuns() {
    let body;
    try { body = await get(`/projects/${projectId}/training-runs/?page_size=25`); } catch (error) {
      banner(`Could not load the runs: ${error.message}`); return;
    }
    const runs = body.results || body;
    empty("runs", runs.length === 0);
    fill(el("runs"), runs.map((r) => [
      String(r.id), badge(r.state), r.outcome ? OUTCOMES[r.outcome] || r.outcome : "–", r.trigger,
      r.requested_by || (r.trigger === "auto" ? "automatic" : "–"), when(r.started_at || r.created_at),
      duration(r),
      r.metrics && r.metrics.unchanged_since_run ? `as run ${r.metrics.unchanged_since_run}` : perTarget(r.metrics && r.metrics.dev_ccc),
      r.error || "–",
    ]));
    // A run started elsewhere (another tab, the command line, new ratings) or before a
    // reload is picked up and watched.
    const live = runs.find((r) => LIVE.includes(r.state));
    if (live && watching !== live.id) watch(live.id);
    if (!live && !watching) { el("retrain").disabled = false; el("cancel-run").hidden = true; }
  }
  el("retrain").addEventListener("click", async () => {
    el("retrain").disabled = true;
    notice("");
    const { status, data } = await send("POST", `/projects/${projectId}/retrain/`);
    if (status === 202) { showLive(data.run); watch(data.run.id); loadAudit(); return; }
    if (data.code === "too_few_labels") notice("Not enough human labels to train yet", data.detail);
    else if (status === 409) { notice("A run is already under way", data.detail, "info"); loadRuns(); return; }
    else notice("Retraining refused", data.detail || `The server answered ${status}.`, "error");
    el("retrain").disabled = false;
  });
  el("cancel-run").addEventListener("click", async () => {
    if (!watching) return;
    el("cancel-run").disabled = true;
    const { ok, status, data } = await send("POST", `/training-runs/${watching}/cancel/`);
    if (ok) { showLive(data); watch(data.id); loadAudit(); return; }
    notice(data.code === "run_finished" ? "The run has already finished" : "Cancel refused",
      data.detail || `The server answered ${status}.`, "info");
    if (watching) watch(watching);
  });

  // ---- Pause / resume ------------------------------------------------------------
  function showPaused(paused) {
    el("pause-state").replaceChildren(
      badge(paused ? "paused" : "running", paused ? "deferred" : "rated"),
      document.createTextNode(paused ? " Raters get no clips until you resume." : " Raters get clips as usual."));
    el("pause-toggle").textContent = paused ? "Resume project" : "Pause project";
    el("pause-toggle").disabled = false;
  }
  el("pause-toggle").addEventListener("click", async () => {
    if (!settings) return;
    el("pause-toggle").disabled = true;
    const { ok, status, data } = await send("POST", `/projects/${projectId}/${settings.paused ? "resume" : "pause"}/`);
    if (!ok) { banner(data.detail || `Refused (${status}).`); el("pause-toggle").disabled = false; return; }
    settings.paused = data.paused;
    showPaused(data.paused);
    banner(data.paused ? "The project is paused." : "The project is running again.", "info");
    loadAudit();
  });

  // ---- Settings ------------------------------------------------------------------
  const inputs = () => [...el("settings-form").querySelectorAll("input[name]")];
  function fieldError(name, text) {
    const box = el(`err-${name}`);
    const input = el(`set-${name}`);
    if (!box || !input) return false;
    box.textContent = text || "";
    box.hidden = !text;
    if (text) input.setAttribute("aria-invalid", "true"); else input.removeAttribute("aria-invalid");
    return true;
  }
  function showSettings(values) {
    settings = values;
    inputs().forEach((input) => {
      const v = values[input.name];
      if (input.dataset.kind === "bool") input.checked = !!v; else input.value = v;
      fieldError(input.name, "");
    });
    showPaused(values.paused);
  }
  async function loadSettings() {
    try { showSettings(await get(`/projects/${projectId}/settings/`)); } catch (error) {
      banner(`Could not load the settings: ${error.message}`);
    }
  }
  el("settings-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!settings) return;
    const changes = {};
    const local = {};
    inputs().forEach((input) => {
      fieldError(input.name, "");
      let value;
      if (input.dataset.kind === "bool") value = input.checked;
      else if (input.value.trim() === "" || Number.isNaN(Number(input.value))) {
        local[input.name] = "enter a number"; return;
      } else value = Number(input.value);
      if (value !== settings[input.name]) changes[input.name] = value;
    });
    Object.entries(local).forEach(([name, text]) => fieldError(name, text));
    if (Object.keys(local).length) { el("settings-message").textContent = "Fix the fields marked."; return; }
    if (!Object.keys(changes).length) { el("settings-message").textContent = "Nothing to save: no setting changed."; return; }
    el("settings-save").disabled = true;
    const { ok, status, data } = await send("PATCH", `/projects/${projectId}/settings/`, changes);
    el("settings-save").disabled = false;
    if (ok) {
      const said = Object.keys(changes).map((k) => `${k.replace(/_/g, " ")} ${settings[k]} → ${data[k]}`);
      showSettings(data);
      el("settings-message").textContent = `Saved: ${said.join("; ")}.`;
      loadAudit();
      return;
    }
    let placed = false;
    Object.entries(data.fields || {}).forEach(([name, text]) => { placed = fieldError(name, text) || placed; });
    el("settings-message").textContent = placed ? "Nothing was saved: fix the fields marked." :
      `Nothing was saved: ${data.detail || `the server answered ${status}`}.`;
  });

  // ---- Model versions and revoking ---------------------------------------------
  async function loadVersions() {
    let versions;
    try { versions = await get(`/projects/${projectId}/model-versions/`); } catch (error) {
      banner(`Could not load the model versions: ${error.message}`); return;
    }
    empty("versions", versions.length === 0);
    fill(el("versions"), versions.map((v) => {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = "Revoke machine labels";
      button.disabled = v.live_machine_labels === 0 && !v.is_active;
      button.addEventListener("click", () => openRevoke(v));
      return [v.name, v.is_active ? badge("active", "rated") : "–", perTarget(v.dev_ccc),
        v.live_machine_labels ? `${v.live_machine_labels} on ${v.clips} clips` : "none",
        v.revoked_at ? when(v.revoked_at) : "–", button];
    }));
  }
  async function openRevoke(version) {
    let preview;
    try { preview = await get(`/model-versions/${version.id}/revoke/`); } catch (error) {
      banner(`Could not prepare the revocation: ${error.message}`); return;
    }
    revoking = version;
    el("revoke-name").textContent = version.name;
    el("revoke-text").textContent =
      `${preview.labels} live machine labels on ${preview.clips} clips will be revoked; ` +
      `${preview.requeued} of those clips go back to the human queue.` +
      (preview.deactivated ? ` ${version.name} is the active model: it will be deactivated, and the ` +
        "project labels nothing itself until the next retraining promotes a new model." : "");
    el("revoke-dialog").showModal();
  }
  el("revoke-form").addEventListener("submit", (e) => {
    el("revoke-dialog").returnValue = e.submitter ? e.submitter.value : "cancel";
  });
  el("revoke-dialog").addEventListener("close", async () => {
    if (el("revoke-dialog").returnValue !== "revoke" || !revoking) return;
    const version = revoking;
    revoking = null;
    const { ok, status, data } = await send("POST", `/model-versions/${version.id}/revoke/`);
    if (ok) {
      banner(`Revoked ${data.labels} machine labels of ${data.model_version} on ${data.clips} clips; ` +
        `${data.requeued} clips are back in the human queue` +
        (data.deactivated ? `, and ${data.model_version} is no longer active.` : "."), "info");
    } else banner(data.detail || `Revoking refused (${status}).`);
    loadVersions();
    loadAudit();
  });

  // ---- Audit log -----------------------------------------------------------------
  function values(obj) {
    const list = document.createElement("div");
    list.className = "ops-values";
    const entries = Object.entries(obj || {});
    if (!entries.length) list.textContent = "–";
    entries.forEach(([k, v]) => {
      const line = document.createElement("div");
      line.textContent = `${k.replace(/_/g, " ")}: ${typeof v === "object" && v !== null ? JSON.stringify(v) : v}`;
      list.appendChild(line);
    });
    return list;
  }
  async function loadAudit() {
    let body;
    try { body = await get(`/projects/${projectId}/audit-log/?page=${auditPage}&page_size=${AUDIT_PAGE}`); } catch (error) {
      if (auditPage > 1) { auditPage = 1; loadAudit(); return; }
      banner(`Could not load the audit log: ${error.message}`); return;
    }
    empty("audit", body.results.length === 0);
    fill(el("audit"), body.results.map((e) => [
      when(e.created_at), e.actor || "–", e.action.replace(/[._]/g, " "),
      `${e.object_type.replace(/_/g, " ")} ${e.object_id}`, values(e.before), values(e.after),
    ]));
    const pages = Math.max(1, Math.ceil(body.count / AUDIT_PAGE));
    el("audit-page").textContent = `page ${auditPage} of ${pages}`;
    el("audit-pager").hidden = pages <= 1;
    el("audit-prev").disabled = !body.previous;
    el("audit-next").disabled = !body.next;
  }
  el("audit-prev").addEventListener("click", () => { auditPage = Math.max(1, auditPage - 1); loadAudit(); });
  el("audit-next").addEventListener("click", () => { auditPage += 1; loadAudit(); });

  loadSettings();
  loadRuns();
  loadVersions();
  loadAudit();
  // Runs started elsewhere (new ratings, another admin) show up without a reload.
  setInterval(() => { if (!watching && !document.hidden) loadRuns(); }, 10000);
})();
