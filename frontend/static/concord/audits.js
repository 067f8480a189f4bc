// Machine-label audit page: send a random sample of machine-labelled clips to humans, and
// show per model version the measured machine-label error (95 % interval) next to the claim.
(function () {
  "use strict";
  const root = document.getElementById("audits-page");
  const projectId = root.dataset.project;
  const url = `/api/v1/projects/${projectId}/audits/`;
  const el = (id) => document.getElementById(id);
  const fmt = (v, d = 3) => (v === null || v === undefined ? "–" : Number(v).toFixed(d));
  const SVG = "http://www.w3.org/2000/svg";
  const REFRESH_MS = 30000;

  function csrf() {
    const m = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return m ? decodeURIComponent(m[1]) : "";
  }
  function banner(text, kind = "error") {
    el("banner").textContent = text; el("banner").className = `banner ${kind}`; el("banner").hidden = !text;
  }
  function node(tag, text, className) {
    const n = document.createElement(tag);
    if (text !== undefined && text !== null) n.textContent = text;
    if (className) n.className = className;
    return n;
  }
  function cell(label, content, className) {
    const td = node("td", null, className);
    td.dataset.label = label;
    // One child, so on a phone (label: value grid) the value's parts stay in one column.
    const box = node("div");
    (Array.isArray(content) ? content : [content]).forEach((c) => {
      box.appendChild(c instanceof Node ? c : document.createTextNode(c));
    });
    td.appendChild(box);
    return td;
  }

  // Where the model's claim falls against the measured interval.
  function verdict(m, claimed) {
    if (m.measured_error === null) return ["waiting for the humans' ratings", "unknown"];
    if (claimed === null || claimed === undefined) return ["the model claimed no error", "unknown"];
    if (m.interval_low === null) return ["one clip so far: too few to tell", "unknown"];
    if (claimed < m.interval_low) return ["worse than claimed: the model is over-confident", "worse"];
    if (claimed > m.interval_high) return ["better than claimed: the model is cautious", "better"];
    return ["as claimed: the claim lies inside the interval", "as-claimed"];
  }

  // A strip from 0: the interval as a band, the measured mean as a dot, the claim as a tick.
  function strip(m, claimed) {
    const values = [m.measured_error, m.interval_high, claimed].filter((v) => v !== null && v !== undefined);
    if (m.measured_error === null || !values.length) return null;
    const top = Math.max(...values) * 1.15 || 1;
    const x = (v) => 4 + (v / top) * 192;
    const svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("viewBox", "0 0 200 22"); svg.setAttribute("class", "strip");
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", `measured ${fmt(m.measured_error)}, claimed ${fmt(claimed)}`);
    const add = (tag, attrs) => {
      const e = document.createElementNS(SVG, tag);
      Object.entries(attrs).forEach(([k, v]) => e.setAttribute(k, v));
      svg.appendChild(e);
    };
    add("line", { x1: 4, x2: 196, y1: 11, y2: 11, class: "axis" });
    if (m.interval_low !== null) add("line", { x1: x(m.interval_low), x2: x(m.interval_high), y1: 11, y2: 11, class: "interval" });
    if (claimed !== null && claimed !== undefined) add("line", { x1: x(claimed), x2: x(claimed), y1: 2, y2: 20, class: "claimed" });
    add("circle", { cx: x(m.measured_error), cy: 11, r: 4, class: "measured" });
    return svg;
  }

  function targetRow(target, m) {
    const tr = document.createElement("tr");
    const sameClips = m.claimed_error !== null && m.claimed_error !== undefined;
    const claimed = sameClips ? m.claimed_error : m.claimed_error_all;
    const [text, kind] = verdict(m, claimed);
    const measured = m.measured_error === null ? ["–"]
      : [`${fmt(m.measured_error)}${m.interval_low === null ? "" : ` (${fmt(m.interval_low)}–${fmt(m.interval_high)})`}`];
    const picture = strip(m, claimed);
    if (picture) measured.push(picture);
    tr.append(
      cell("Target", target),
      cell("Clips compared", String(m.clips), "num"),
      cell("Measured error (95 %)", measured),
      cell("Claimed error", sameClips || claimed === null || claimed === undefined ? fmt(claimed) : `${fmt(claimed)} (all audited clips)`),
      cell("Verdict", node("span", text, `verdict ${kind}`)),
    );
    return tr;
  }

  function versionCard(v) {
    const section = node("section", null, "card audit-version");
    const h2 = node("h2", v.model_version);
    if (v.is_active) h2.appendChild(node("span", "active model", "pill"));
    const progress = node("div", null, "audit-progress");
    const bar = document.createElement("progress");
    bar.max = Math.max(v.audited, 1); bar.value = v.completed;
    const when = v.requested_at ? new Date(v.requested_at).toLocaleString() : "";
    progress.append(node("span", `${v.completed} of ${v.audited} audited clip${v.audited === 1 ? "" : "s"} rated by humans`), bar,
      node("span", when ? `last sent ${when}` : ""));
    const table = node("table", null, "audit-table");
    const head = document.createElement("thead");
    const hr = document.createElement("tr");
    ["Target", "Clips compared", "Measured error (95 % interval)", "Claimed error", "Verdict"].forEach((h) => hr.appendChild(node("th", h)));
    head.appendChild(hr);
    const body = document.createElement("tbody");
    Object.entries(v.targets).forEach(([t, m]) => body.appendChild(targetRow(t, m)));
    table.append(head, body);
    const legend = node("p", null, "legend");
    legend.append(node("span", "●", "key-measured"), " measured mean with its 95 % interval band; | the claimed error.");
    section.append(h2, progress, table, legend);
    return section;
  }

  async function load() {
    const response = await fetch(url, { credentials: "same-origin" });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) { banner(body.detail || `Could not load the audits (${response.status}).`); return; }
    el("versions").replaceChildren(...body.map(versionCard));
    el("audits-empty").hidden = body.length > 0;
  }

  const form = el("audit-form");
  const label = () => `Send ${form.n.value || "N"} random machine-labelled clip${form.n.value === "1" ? "" : "s"} to humans`;
  form.n.addEventListener("input", () => { el("audit-send").textContent = label(); });
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const n = Number(form.n.value);
    if (!Number.isInteger(n) || n < 1 || n > Number(root.dataset.max)) {
      banner(`Choose a whole number of clips from 1 to ${root.dataset.max}.`); return;
    }
    el("audit-send").disabled = true;
    const payload = { n };
    if (form.model_version.value) payload.model_version = form.model_version.value;
    try {
      const response = await fetch(url, {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": csrf() }, body: JSON.stringify(payload),
      });
      const data = await response.json().catch(() => ({}));
      if (response.ok) {
        banner(`${data.created} clip${data.created === 1 ? "" : "s"} sent to humans; raters get them first.`, "info");
        load();
      } else banner(data.detail || `Refused (${response.status}).`);
    } catch (err) {
      banner("Could not reach the server; nothing was sent.");
    } finally {
      el("audit-send").disabled = false;
    }
  });

  load();
  setInterval(() => { if (document.visibilityState === "visible") load(); }, REFRESH_MS);
})();
