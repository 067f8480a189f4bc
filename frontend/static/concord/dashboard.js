// Researchers and admins: the campaign at a glance, refreshed every 10 s without reload.
// One read (GET /api/v1/projects/{id}/dashboard/) feeds the tiles, the charts (Chart.js,
// served locally) and the models and queue tables; the raters table reads /raters/.
// Retraining and tuning live on the operations page (admins). Each chart's canvas
// carries data-points (how many points it draws) for tests.
(function () {
  "use strict";
  const root = document.getElementById("dashboard");
  const projectId = root.dataset.project;
  const api = "/api/v1";
  const POLL_MS = 10000;
  const el = (id) => document.getElementById(id);
  const charts = {};

  const STATES = [
    ["awaiting_humans", "awaiting humans", "#2563eb"],
    ["leased", "leased", "#0891b2"],
    ["rated", "rated", "#15803d"],
    ["machine_labelled", "machine labelled", "#7c3aed"],
    ["deferred", "deferred", "#d97706"],
    ["new", "new", "#94a3b8"],
  ];
  const TARGET_COLORS = ["#2563eb", "#db2777", "#059669", "#d97706", "#7c3aed", "#0891b2"];
  const HUMAN = "#2563eb";
  const MACHINE = "#7c3aed";

  // ---- small helpers -------------------------------------------------------------------
  const fixed = (v, digits) => (v === null || v === undefined ? "—" : Number(v).toFixed(digits));
  const percent = (v) => (v === null || v === undefined ? "—" : `${Math.round(v * 100)} %`);
  const when = (iso) => new Date(iso).toLocaleString([], { dateStyle: "medium", timeStyle: "short" });

  function node(tag, text, className) {
    const n = document.createElement(tag);
    if (text !== undefined && text !== null) n.textContent = text;
    if (className) n.className = className;
    return n;
  }

  // A table cell; `content` is text, a node or a list of lines. `label` heads the cell
  // when the table is stacked on a phone.
  function cell(content, label, className) {
    const td = node("td", null, className);
    td.dataset.label = label;
    const value = node("div", null, "v"); // one box, so a stacked cell stays "label | value"
    if (content instanceof Node) value.appendChild(content);
    else if (Array.isArray(content)) content.forEach((line) => value.appendChild(node("div", line)));
    else value.textContent = String(content);
    td.appendChild(value);
    return td;
  }

  function row(cells) {
    const tr = document.createElement("tr");
    cells.forEach((c) => tr.appendChild(c));
    return tr;
  }

  function emptyRow(tbody, columns, text) {
    const td = node("td", text, "empty-row");
    td.colSpan = columns;
    tbody.replaceChildren(row([td]));
  }

  function clipLink(clipId, externalId) {
    const a = node("a", `clip ${clipId}`);
    a.href = `/projects/${projectId}/clips/${clipId}/`;
    const wrap = document.createDocumentFragment();
    wrap.appendChild(a);
    if (externalId) wrap.appendChild(node("span", ` ${externalId}`, "muted"));
    return wrap;
  }

  async function get(path) {
    const response = await fetch(`${api}${path}`, { credentials: "same-origin" });
    if (!response.ok) {
      const body = await response.json().catch(() => ({}));
      throw new Error(body.detail ? `${body.detail} (${response.status})` : `${path}: ${response.status}`);
    }
    return response.json();
  }

  function banner(message) { el("banner").textContent = message; el("banner").hidden = !message; }

  // ---- charts --------------------------------------------------------------------------
  function timeLabel(ms, spanMs) {
    const d = new Date(ms);
    if (spanMs > 36 * 3600 * 1000) return d.toLocaleString([], { month: "short", day: "numeric", hour: "2-digit" });
    return d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }

  function baseOptions(extra) {
    return {
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      interaction: { mode: "nearest", intersect: false },
      plugins: { legend: { position: "bottom", labels: { boxWidth: 12, boxHeight: 12 } } },
      ...extra,
    };
  }

  // Draw or update one chart; with no points, its card shows the empty sentence instead.
  function draw(id, points, type, data, options) {
    const canvas = el(id);
    const card = canvas.closest(".chart-card");
    canvas.dataset.points = String(points);
    card.querySelector(".chart-box").hidden = points === 0;
    card.querySelector(".chart-empty").hidden = points !== 0;
    if (points === 0 || typeof window.Chart === "undefined") return;
    const existing = charts[id];
    if (existing && existing.config.type === type) {
      existing.data = data;
      existing.options = options;
      existing.update("none");
    } else {
      if (existing) existing.destroy();
      charts[id] = new window.Chart(canvas, { type, data, options });
    }
  }

  function drawStates(d) {
    const series = d.snapshots.map((s) => ({ t: Date.parse(s.taken_at), states: s.states }));
    series.push({ t: Date.parse(d.generated_at), states: d.states }); // now
    const span = series[series.length - 1].t - series[0].t;
    const shown = STATES.filter(([key]) => series.some((s) => (s.states[key] || 0) > 0));
    const datasets = shown.map(([key, label, color]) => ({
      label,
      data: series.map((s) => ({ x: s.t, y: s.states[key] || 0 })),
      borderColor: color,
      backgroundColor: color,
      stepped: true,
      pointRadius: (ctx) => (ctx.dataIndex === series.length - 1 || series.length <= 3 ? 3 : 0),
      borderWidth: 2,
    }));
    draw("chart-states", d.clips ? series.length : 0, "line", { datasets }, baseOptions({
      scales: {
        x: {
          type: "linear",
          min: series[0].t,
          max: series[series.length - 1].t,
          ticks: { maxTicksLimit: 6, callback: (v) => timeLabel(v, span) },
        },
        y: { beginAtZero: true, ticks: { precision: 0 }, title: { display: true, text: "clips" } },
      },
      plugins: {
        legend: { position: "bottom", labels: { boxWidth: 12, boxHeight: 12 } },
        tooltip: { callbacks: { title: (items) => (items.length ? when(items[0].parsed.x) : "") } },
      },
    }));
  }

  function drawRatings(d) {
    const hours = d.ratings_per_hour;
    const total = hours.reduce((sum, h) => sum + h.ratings, 0);
    const labels = hours.map((h, i) => {
      const t = new Date(h.hour);
      const time = t.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
      return i === 0 || t.getHours() === 0 ? `${t.toLocaleDateString([], { month: "short", day: "numeric" })} ${time}` : time;
    });
    draw("chart-ratings", total ? hours.length : 0, "bar", {
      labels,
      datasets: [{ label: "ratings", data: hours.map((h) => h.ratings), backgroundColor: HUMAN }],
    }, baseOptions({
      plugins: { legend: { display: false } },
      scales: {
        x: { ticks: { maxTicksLimit: 8, maxRotation: 0, autoSkip: true } },
        y: { beginAtZero: true, ticks: { precision: 0 } },
      },
    }));
    const r = d.ratings;
    const parts = [`${r.total} human ratings spent so far by ${r.raters} ${r.raters === 1 ? "rater" : "raters"}`];
    if (r.imported) parts.push(`${r.imported} of them imported with the corpus`);
    if (r.hours_spent) {
      const spent = r.hours_spent < 1 ? `${Math.max(1, Math.round(r.hours_spent * 60))} min` : `${r.hours_spent.toFixed(1)} h`;
      parts.push(`${spent} of rating time measured`);
    }
    el("ratings-note").textContent = `${parts.join("; ")}.` +
      (hours.length ? ` Shown: the last ${hours.length} h of rating, in your local time.` : "");
  }

  function drawShare(d) {
    const targets = d.targets;
    const by = d.labels.by_target;
    const total = d.labels.human + d.labels.machine;
    draw("chart-share", total ? targets.length : 0, "bar", {
      labels: targets,
      datasets: [
        { label: "human", data: targets.map((t) => by[t].human), backgroundColor: HUMAN },
        { label: "machine", data: targets.map((t) => by[t].machine), backgroundColor: MACHINE },
      ],
    }, baseOptions({
      indexAxis: "y",
      scales: { x: { stacked: true, beginAtZero: true, ticks: { precision: 0 } }, y: { stacked: true } },
    }));
    el("share-note").textContent = total
      ? `${d.labels.machine} of ${total} live labels (${Math.round((100 * d.labels.machine) / total)} %) come from a model; ` +
        `${d.states.rated} clips rated by people, ${d.states.machine_labelled} labelled by a model.`
      : "";
  }

  function drawAgreement(d) {
    const a = d.agreement;
    const targets = d.targets;
    const labels = a.bins.slice(0, -1).map((low, i) => `${low.toFixed(1)}–${a.bins[i + 1].toFixed(1)}`);
    const counted = targets.reduce((sum, t) => sum + a.targets[t].labels, 0);
    const single = targets.reduce((sum, t) => sum + a.targets[t].single_rating, 0);
    draw("chart-agreement", counted ? labels.length : 0, "bar", {
      labels,
      datasets: targets.map((t, i) => ({
        label: t,
        data: a.targets[t].counts,
        backgroundColor: TARGET_COLORS[i % TARGET_COLORS.length],
      })),
    }, baseOptions({
      scales: {
        x: { title: { display: true, text: "agreement (1 = identical ratings)" }, ticks: { maxRotation: 0, autoSkip: true } },
        y: { beginAtZero: true, ticks: { precision: 0 }, title: { display: true, text: "labels" } },
      },
    }));
    const means = targets.filter((t) => a.targets[t].mean !== null).map((t) => `${t} ${a.targets[t].mean.toFixed(2)}`);
    el("agreement-note").textContent =
      `Human labels from two ratings or more (${counted}); ${single} single-rating labels have no agreement and are left out.` +
      (means.length ? ` Mean agreement: ${means.join(", ")}.` : "");
  }

  function drawCurve(d) {
    const curve = d.learning_curve;
    const datasets = curve.targets.map((t, i) => ({
      label: t,
      data: curve.points.filter((p) => p.dev_ccc[t] !== null).map((p) => ({ x: p.ratings, y: p.dev_ccc[t] })),
      borderColor: TARGET_COLORS[i % TARGET_COLORS.length],
      backgroundColor: TARGET_COLORS[i % TARGET_COLORS.length],
      pointRadius: 4,
      borderWidth: 2,
    }));
    const signal = curve.signal;
    if (signal.fired) {
      datasets.push({
        label: `stop signal (${signal.at_cost} ratings)`,
        data: [{ x: signal.at_cost, y: 0 }, { x: signal.at_cost, y: 1 }],
        borderColor: "#b91c1c",
        backgroundColor: "#b91c1c",
        borderDash: [6, 4],
        pointRadius: 0,
        borderWidth: 2,
      });
    }
    draw("chart-curve", curve.points.length, "line", { datasets }, baseOptions({
      scales: {
        x: { type: "linear", beginAtZero: true, title: { display: true, text: "human ratings spent" }, ticks: { precision: 0 } },
        y: { suggestedMin: 0, suggestedMax: 1, title: { display: true, text: "development CCC" } },
      },
    }));
    const sentence = el("stop-sentence");
    sentence.textContent = curve.sentence;
    sentence.classList.toggle("fired", signal.fired);
  }

  // ---- tiles and tables ----------------------------------------------------------------
  function showStats(d) {
    const items = [
      ["clips", d.clips],
      ["human ratings", d.ratings.total],
      ["raters", d.ratings.raters],
      ["human labels", d.labels.human],
      ["machine labels", d.labels.machine],
      ...STATES.map(([key, label]) => [label, d.states[key] || 0]),
    ];
    el("stats").replaceChildren(...items.map(([label, value]) => {
      const div = node("div", null, "stat");
      div.appendChild(node("strong", String(value)));
      div.appendChild(document.createTextNode(label));
      return div;
    }));
    el("paused").hidden = !d.project.paused;
  }

  // How a model orders the clips it leaves to raters (learner.cooperative.choose_queue_order).
  const QUEUE_ORDER = {
    uncertainty: "queue: least confident first",
    random: "queue: random draw (ranks errors no better than chance)",
  };

  function perTargetLines(values, targets, format) {
    return targets.map((t) => `${t} ${format(values[t])}`);
  }

  function showModels(d) {
    const tbody = el("models");
    const isAdmin = root.dataset.role === "admin";
    if (!d.models.length) {
      emptyRow(tbody, 9, "No model yet — one is trained once enough clips have human labels" +
        (isAdmin ? "; an admin can retrain from the operations page." : "."));
    } else {
      tbody.replaceChildren(...d.models.map((m) => {
        const bar = m.self_label_bar === null ? "—"
          : m.self_label_bar <= 0 ? "0 (labels nothing)"
            : m.self_label_bar < m.self_label_threshold ? `${fixed(m.self_label_bar, 3)} (own ${fixed(m.self_label_threshold, 3)})`
              : fixed(m.self_label_bar, 3);
        const share = m.dev_self_label_share === null ? "—"
          : `${percent(m.dev_self_label_share)}` + (m.dev_machine_label_mae === null ? "" : ` · MAE ${fixed(m.dev_machine_label_mae, 3)}`);
        const version = document.createDocumentFragment();
        version.appendChild(node("strong", m.name));
        if (m.run) version.appendChild(node("span", ` run ${m.run}`, "muted"));
        return row([
          cell(version, "Version"),
          cell(m.is_active ? node("span", "active", "pill active") : "", "Active"),
          cell(m.promoted_at ? `promoted ${when(m.promoted_at)}` : `created ${when(m.created_at)}`, "Promoted / created"),
          cell(perTargetLines(m.dev_ccc, d.targets, (v) => fixed(v, 3)), "Dev CCC"),
          cell([
            ...perTargetLines(m.confidence_rank, d.targets, (v) => (v === null ? "too few clips" : v.toFixed(2))),
            ...(m.queue_order ? [QUEUE_ORDER[m.queue_order]] : []),
          ], "Confidence ranks errors"),
          cell(bar, "Self-label bar"),
          cell(share, "Dev clips under the bar"),
          cell(String(m.machine_labelled_clips), "Clips it labels"),
          cell(m.why, "Why it labels what it labels", "why-cell"),
        ]);
      }));
    }
    const named = d.project.prior ? `Starts from prior ${d.project.prior}.` : "";
    const latest = d.models.find((m) => m.prior_why);
    const verdict = latest ? `Newest model: ${latest.prior_why}.` : "";
    el("prior").textContent = [named || (verdict ? "No prior named now." : ""), verdict].join(" ").trim();
    el("prior").hidden = !named;
  }

  function showQueue(d) {
    const q = d.queue;
    const tbody = el("queue");
    if (!q.rows.length) {
      emptyRow(tbody, 7, "Nothing open for raters — no clip awaiting humans has a free slot" +
        (q.fully_leased ? ` (${q.fully_leased} are leased to raters right now).` : "."));
    } else {
      tbody.replaceChildren(...q.rows.map((r) => row([
        cell(String(r.rank), "#"),
        cell(clipLink(r.clip, r.external_id), "Clip"),
        cell(r.speaker || "—", "Speaker"),
        cell(r.started ? `started by others: ${r.n_ratings} of ${r.ratings_wanted} ratings, served first` : "not started: by priority", "Why here"),
        cell(`${r.n_ratings} / ${r.ratings_wanted}`, "Ratings"),
        cell(String(r.active_leases), "Leased"),
        r.started
          ? Object.assign(cell("—", "Priority", "muted"), { title: `A started clip comes first whatever its priority (${fixed(r.priority, 3)}).` })
          : cell(fixed(r.priority, 3), "Priority"),
      ])));
    }
    el("queue-note").textContent = `${q.open} ${q.open === 1 ? "clip is" : "clips are"} open` +
      (q.fully_leased ? `, ${q.fully_leased} more awaiting with every slot leased` : "") +
      (q.rows.length < q.open ? `; the first ${q.rows.length} are shown.` : ".");
  }

  function showRaters(raters) {
    const tbody = el("raters");
    if (!raters.length) {
      emptyRow(tbody, 4, "No rater yet — raters appear with their first rating.");
      return;
    }
    tbody.replaceChildren(...raters.map((r) => row([
      cell(r.username, "Rater"),
      cell(String(r.ratings), "Ratings"),
      cell(r.reliability === null ? "-" : r.reliability.toFixed(2), "Reliability"),
      cell(Object.entries(r.noise).map(([t, v]) => `${t} ${v === null ? "unmeasured" : v.toFixed(3)}`).join(", "), "Own noise"),
    ])));
  }

  // ---- refresh loop --------------------------------------------------------------------
  // The raters table reads every rating of the project (about a second at 50k ratings):
  // it refreshes every 6th poll and never holds up the rest.
  const RATERS_EVERY = 6;
  let timer = null;
  let polls = 0;
  async function refresh() {
    clearTimeout(timer);
    if (polls++ % RATERS_EVERY === 0) {
      get(`/projects/${projectId}/raters/`).then(showRaters)
        .catch((error) => emptyRow(el("raters"), 4, `Could not load the raters: ${error.message}`));
    }
    try {
      const d = await get(`/projects/${projectId}/dashboard/`);
      showStats(d);
      showModels(d);
      showQueue(d);
      drawStates(d);
      drawRatings(d);
      drawShare(d);
      drawAgreement(d);
      drawCurve(d);
      el("updated").textContent = `Updated ${new Date().toLocaleTimeString()} · refreshes every ${POLL_MS / 1000} s`;
      banner(typeof window.Chart === "undefined" ? "Charts could not load (static/vendor/chartjs missing: run ./run install)." : "");
    } catch (error) {
      banner(`Could not refresh: ${error.message}`);
    }
    timer = setTimeout(refresh, POLL_MS);
  }

  // A hidden tab does not poll; it refreshes as soon as it is shown again.
  document.addEventListener("visibilitychange", () => {
    if (document.hidden) clearTimeout(timer);
    else refresh();
  });

  refresh();
})();
