// Concord rater page: next clip, play, rate every scale, submit; never lose a rating.
(function () {
  "use strict";

  const root = document.getElementById("rater");
  const projectId = root.dataset.project;
  const api = "/api/v1";
  const pendingKey = `concord-pending-${projectId}`;
  const el = (id) => document.getElementById(id);

  let current = null; // the lease being rated: {assignment, clip, targets}
  let wave = null;
  let played = false;
  let shownAt = 0;
  let retryDelay = 1000;
  let retryTimer = null;

  function csrfToken() {
    const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  async function post(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  }

  function banner(message, kind) {
    const box = el("banner");
    box.textContent = message || "";
    box.className = `banner ${kind || "error"}`;
    box.hidden = !message;
  }

  function show(section) {
    el("stage").hidden = section !== "stage";
    el("done").hidden = section !== "done";
    el("loading").hidden = section !== "loading";
  }

  function setProgress(progress) {
    if (!progress) return;
    el("done-today").textContent = progress.done_today;
    el("left").textContent = progress.left;
  }

  function retryLater(what, action) {
    clearTimeout(retryTimer);
    const seconds = Math.round(retryDelay / 1000);
    banner(`Connection problem while ${what}. Retrying in ${seconds} s…` +
      (what === "sending your rating" ? " Your rating is kept and will not be lost." : ""));
    retryTimer = setTimeout(action, retryDelay);
    retryDelay = Math.min(retryDelay * 2, 15000);
  }

  // The "done" panel also says why there is nothing to rate (e.g. a paused project).
  const doneDefault = {
    title: el("done").querySelector("h2").textContent,
    text: el("done").querySelector("p").textContent,
  };
  function doneSays({ title, text }) {
    el("done").querySelector("h2").textContent = title;
    el("done").querySelector("p").textContent = text;
  }

  async function loadNext() {
    show("loading");
    let response;
    try {
      response = await post(`${api}/projects/${projectId}/next/`);
    } catch (error) {
      retryLater("fetching the next clip", loadNext);
      return;
    }
    if (response.status >= 500) {
      retryLater("fetching the next clip", loadNext);
      return;
    }
    retryDelay = 1000;
    if (response.status === 204) {
      current = null;
      banner("");
      doneSays(doneDefault);
      refreshProgress();
      show("done");
      return;
    }
    if (response.status === 403) {
      const body = await response.clone().json().catch(() => ({}));
      if (body.code === "rater_blocked") {
        // An admin blocked this rater here: a clear page, not an error banner.
        current = null;
        banner("");
        doneSays({ title: "Nothing to rate here", text: body.detail });
        show("done");
        return;
      }
    }
    if (response.status === 409) {
      const body = await response.clone().json().catch(() => ({}));
      if (body.code === "project_paused") {
        // The admins paused the project: say so where "all done" would be.
        current = null;
        banner("");
        doneSays({ title: "Paused", text: body.detail });
        refreshProgress();
        show("done");
        return;
      }
    }
    if (!response.ok) {
      banner(await errorText(response));
      return;
    }
    banner("");
    current = await response.json();
    setProgress(current.progress);
    renderClip();
  }

  async function refreshProgress() {
    try {
      const response = await fetch(`${api}/projects/${projectId}/progress/`, { credentials: "same-origin" });
      if (response.ok) setProgress(await response.json());
    } catch (error) { /* progress is cosmetic; the next call refreshes it */ }
  }

  async function errorText(response) {
    try {
      const body = await response.json();
      return body.detail || JSON.stringify(body);
    } catch (error) {
      return `The server answered ${response.status}.`;
    }
  }

  function renderClip() {
    played = false;
    shownAt = performance.now();
    if (wave) wave.destroy();
    const { clip } = current;
    wave = WaveSurfer.create({
      container: el("waveform"),
      url: clip.audio_url,
      peaks: clip.peaks && clip.peaks.length ? [clip.peaks] : undefined,
      duration: clip.duration_s,
      height: 96,
      waveColor: "#94a3b8",
      progressColor: "#2563eb",
      cursorColor: "#1e3a8a",
      barWidth: 2,
      barGap: 1,
      normalize: true,
    });
    wave.on("play", () => { played = true; el("play").textContent = "❚❚ Pause"; updateSubmit(); });
    wave.on("pause", () => { el("play").textContent = "▶ Play"; });
    wave.on("finish", () => { el("play").textContent = "▶ Play"; });
    wave.on("timeupdate", (time) => {
      el("time").textContent = `${time.toFixed(1)} / ${clip.duration_s.toFixed(1)} s`;
    });
    el("time").textContent = `0.0 / ${clip.duration_s.toFixed(1)} s`;
    renderTargets(current.targets);
    show("stage");
    updateSubmit();
  }

  function renderTargets(targets) {
    const box = el("targets");
    box.replaceChildren();
    targets.forEach((target, index) => {
      const middle = (target.min + target.max) / 2;
      const row = document.createElement("div");
      row.className = "scale";
      const id = `scale-${target.name}`;
      // Built node by node: target names and anchors are admins' text, never markup.
      const node = (tag, props = {}, ...children) => {
        const e = document.createElement(tag);
        Object.entries(props).forEach(([k, v]) => e.setAttribute(k, v));
        e.append(...children);
        return e;
      };
      const label = node("label", { for: id },
        node("span", { class: "key" }, String(index + 1)), ` ${target.name} `,
        node("output", { id: `${id}-value`, class: "value" }, middle.toFixed(2)));
      const slider = node("div", { class: "slider" },
        node("span", { class: "anchor low" }, String(target.anchor_low || target.min)),
        node("input", { type: "range", id, name: target.name, min: target.min, max: target.max,
          step: "0.01", value: middle, "data-touched": "false", "aria-describedby": `${id}-value` }),
        node("span", { class: "anchor high" }, String(target.anchor_high || target.max)));
      row.append(label, slider);
      const input = row.querySelector("input");
      const touch = () => {
        input.dataset.touched = "true";
        row.classList.add("touched");
        row.querySelector("output").textContent = Number(input.value).toFixed(2);
        updateSubmit();
      };
      input.addEventListener("input", touch);
      input.addEventListener("change", touch);
      input.addEventListener("pointerdown", touch);
      box.appendChild(row);
    });
  }

  function sliders() {
    return Array.from(el("targets").querySelectorAll("input[type=range]"));
  }

  function updateSubmit() {
    const untouched = sliders().filter((s) => s.dataset.touched !== "true");
    const ready = played && untouched.length === 0 && !readPending();
    el("submit").disabled = !ready;
    el("hint").textContent = !played ? "Play the clip first, then set every scale."
      : untouched.length ? `Set every scale: ${untouched.map((s) => s.name).join(", ")} still untouched.`
      : "Ready: press Enter or Submit.";
  }

  function readPending() {
    try { return JSON.parse(localStorage.getItem(pendingKey)); } catch (error) { return null; }
  }

  function newToken() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID().replace(/-/g, "");
    return Array.from({ length: 32 }, () => Math.floor(Math.random() * 16).toString(16)).join("");
  }

  function submit(event) {
    if (event) event.preventDefault();
    if (el("submit").disabled || !current) return;
    const values = {};
    sliders().forEach((s) => { values[s.name] = Number(s.value); });
    // Kept until the server has it: a reload or a dropped connection resends the same token.
    localStorage.setItem(pendingKey, JSON.stringify({
      assignment: current.assignment.id,
      body: { values, client_token: newToken(), time_spent_ms: Math.round(performance.now() - shownAt) },
    }));
    if (wave) wave.pause();
    el("submit").disabled = true;
    sendPending();
  }

  async function sendPending() {
    const pending = readPending();
    if (!pending) return loadNext();
    clearTimeout(retryTimer);
    let response;
    try {
      response = await post(`${api}/assignments/${pending.assignment}/rating/`, pending.body);
    } catch (error) {
      retryLater("sending your rating", sendPending);
      return;
    }
    if (response.status >= 500) {
      retryLater("sending your rating", sendPending);
      return;
    }
    retryDelay = 1000;
    if (response.ok) {
      localStorage.removeItem(pendingKey);
      banner("");
      loadNext();
      return;
    }
    const message = await errorText(response);
    if (response.status === 409 || response.status === 403 || response.status === 404) {
      // This lease can no longer take the rating: drop it and move on.
      localStorage.removeItem(pendingKey);
      banner(`${message} Here is the next clip.`, "info");
      loadNext();
      return;
    }
    localStorage.removeItem(pendingKey);
    banner(message);
    updateSubmit();
  }

  function onKey(event) {
    if (!current || el("stage").hidden || event.target.tagName === "BUTTON" && event.key === "Enter") return;
    if (event.key === " " || event.code === "Space") {
      event.preventDefault();
      if (wave) wave.playPause();
    } else if (event.key === "r" || event.key === "R") {
      if (wave) { wave.setTime(0); wave.play(); }
    } else if (/^[1-9]$/.test(event.key)) {
      const slider = sliders()[Number(event.key) - 1];
      if (slider) { event.preventDefault(); slider.focus(); }
    } else if ((event.key === "ArrowLeft" || event.key === "ArrowRight") && event.shiftKey
               && event.target.type === "range") {
      event.preventDefault();
      const slider = event.target;
      const step = (Number(slider.max) - Number(slider.min)) / 10;
      slider.value = Number(slider.value) + (event.key === "ArrowRight" ? step : -step);
      slider.dispatchEvent(new Event("input"));
    } else if (event.key === "Enter") {
      event.preventDefault();
      submit();
    }
  }

  el("play").addEventListener("click", () => wave && wave.playPause());
  el("replay").addEventListener("click", () => { if (wave) { wave.setTime(0); wave.play(); } });
  el("rating-form").addEventListener("submit", submit);
  el("check-again").addEventListener("click", loadNext);
  document.addEventListener("keydown", onKey);
  window.addEventListener("online", () => { if (readPending()) sendPending(); });

  sendPending(); // a rating left from a reload or an outage goes first
})();
