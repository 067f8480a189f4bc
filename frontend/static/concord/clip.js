// Clip inspector: play the clip; its labels, ratings by rater, and why it is where it is.
(function () {
  "use strict";
  const root = document.getElementById("clip-page");
  const clipId = root.dataset.clip;
  const el = (id) => document.getElementById(id);
  const fmt = (v, d = 3) => (v === null || v === undefined ? "–" : Number(v).toFixed(d));

  function fill(tbody, rows) {
    tbody.replaceChildren(...rows.map((cells) => {
      const tr = document.createElement("tr");
      cells.forEach((c) => { const td = document.createElement("td"); td.textContent = c; tr.appendChild(td); });
      return tr;
    }));
    return rows.length;
  }

  function player(clip) {
    const wave = WaveSurfer.create({
      container: el("waveform"), url: clip.audio_url, height: 96,
      peaks: clip.peaks && clip.peaks.length ? [clip.peaks] : undefined, duration: clip.duration_s,
      waveColor: "#94a3b8", progressColor: "#2563eb", cursorColor: "#1e3a8a",
    });
    const time = () => { el("time").textContent = `${wave.getCurrentTime().toFixed(1)} / ${clip.duration_s.toFixed(1)} s`; };
    wave.on("timeupdate", time); wave.on("ready", time);
    wave.on("play", () => { el("play").textContent = "❚❚ Pause"; });
    wave.on("pause", () => { el("play").textContent = "▶ Play"; });
    el("play").addEventListener("click", () => wave.playPause());
  }

  function show(clip) {
    el("external").textContent = clip.external_id || clip.original_name || "";
    const facts = [["State", clip.state.replace("_", " ")], ["Speaker", clip.speaker || "–"],
      ["Duration", `${clip.duration_s.toFixed(2)} s`], ["Ratings", `${clip.n_ratings} of ${clip.ratings_wanted} wanted`],
      ["Leased now", clip.active_leases], ["Priority", fmt(clip.priority)],
      ["Self-label bar", fmt(clip.self_label_bar)]];
    el("facts").replaceChildren(...facts.map(([k, v]) => {
      const div = document.createElement("div");
      const dt = document.createElement("dt"); dt.textContent = k;
      const dd = document.createElement("dd"); dd.textContent = v;
      div.append(dt, dd); return div;
    }));
    el("why").textContent = clip.why;
    const labelled = clip.targets.filter((t) => clip.label[t] || clip.machine[t] || t in clip.reference);
    el("labels-empty").hidden = fill(el("labels"), labelled.map((t) => {
      const h = clip.label[t]; const m = clip.machine[t];
      return [t, h ? `${fmt(h.value)} ± ${fmt(h.standard_error)}` : "–", h ? fmt(h.agreement, 2) : "–",
        m ? `${fmt(m.value)}${m.live ? "" : " (revoked)"}` : "–", m ? fmt(m.expected_error) : "–",
        m ? m.model_version : "–", t in clip.reference ? fmt(clip.reference[t]) : "–"];
    })) > 0;
    const head = document.createElement("tr");
    ["Rater", ...clip.targets, "Time spent", "When"].forEach((h) => {
      const th = document.createElement("th"); th.textContent = h; head.appendChild(th);
    });
    el("ratings-head").replaceChildren(head);
    el("ratings-empty").hidden = fill(el("ratings"), clip.ratings.map((r) => [
      `${r.rater_name}${r.excluded ? " (excluded)" : ""}`, ...clip.targets.map((t) => fmt(r.values[t])),
      r.time_spent_ms === null ? "–" : `${(r.time_spent_ms / 1000).toFixed(1)} s`,
      new Date(r.created_at).toLocaleString()])) > 0;
    player(clip);
  }

  fetch(`/api/v1/clips/${clipId}/`, { credentials: "same-origin" })
    .then(async (response) => {
      const body = await response.json().catch(() => ({}));
      if (!response.ok) throw new Error(body.detail || `status ${response.status}`);
      show(body);
    })
    .catch((error) => { el("banner").textContent = `Could not load the clip: ${error.message}`; el("banner").className = "banner error"; el("banner").hidden = false; });
})();
