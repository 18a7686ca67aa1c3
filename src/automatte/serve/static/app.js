// automatte serve: the page. One POST /matte/all per photo (and per background change) fills the views.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const drop = $("drop"), fileInput = $("file"), statusEl = $("status"), errorEl = $("error"), spinner = $("spinner");
  const modelSelect = $("model"), colourInput = $("bg-color");
  const views = { alpha: $("alpha"), cutout: $("cutout"), composite: $("composite") };
  const links = { alpha: $("download-alpha"), cutout: $("download-cutout"), composite: $("download-composite") };
  let maxBytes = Infinity, current = null, inputUrl = null, resultUrls = [], controller = null;

  function setState(state) { document.body.dataset.state = state; spinner.hidden = state !== "busy"; }
  function showError(message) { errorEl.textContent = message; errorEl.hidden = false; setState("error"); }
  function clearError() { errorEl.textContent = ""; errorEl.hidden = true; }
  function megabytes(n) { return (n / 1048576).toFixed(n < 10485760 ? 1 : 0) + " MB"; }

  function clearResults() {
    for (const key of Object.keys(views)) { views[key].removeAttribute("src"); links[key].hidden = true; links[key].removeAttribute("href"); }
    resultUrls.forEach((u) => URL.revokeObjectURL(u)); resultUrls = [];
  }

  function background() {
    const checked = document.querySelector("input[name=bg]:checked");
    return !checked || checked.value === "custom" ? colourInput.value : checked.value;
  }

  function pngUrl(b64) {
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const url = URL.createObjectURL(new Blob([bytes], { type: "image/png" }));
    resultUrls.push(url);
    return url;
  }

  async function detailOf(response) {
    try {
      const body = await response.json();
      if (typeof body.detail === "string") return body.detail;
      return JSON.stringify(body.detail ?? body);
    } catch (e) {
      return response.status + " " + response.statusText;
    }
  }

  async function run() {
    if (!current) return;
    if (controller) controller.abort();
    controller = new AbortController();
    const mine = controller;
    clearError();
    setState("busy");
    statusEl.textContent = "Matting " + current.name + "…";
    const form = new FormData();
    form.append("image", current, current.name);
    form.append("background", background());
    if (modelSelect.value) form.append("model", modelSelect.value);
    let response;
    try {
      response = await fetch("/matte/all", { method: "POST", body: form, signal: mine.signal });
    } catch (e) {
      if (mine.signal.aborted) return;
      statusEl.textContent = "";
      showError("Could not reach the server: " + e.message);
      return;
    }
    if (mine !== controller) return;
    if (!response.ok) {
      statusEl.textContent = "Failed (" + response.status + ").";
      clearResults();
      showError(await detailOf(response));
      return;
    }
    const body = await response.json();
    if (mine !== controller) return;
    clearResults();
    const names = { alpha: body.alpha, cutout: body.rgba, composite: body.composite };
    const loads = [];
    for (const [key, b64] of Object.entries(names)) {
      const url = pngUrl(b64);
      loads.push(new Promise((resolve) => { views[key].onload = resolve; views[key].onerror = resolve; }));
      views[key].src = url;
      links[key].href = url;
      links[key].download = body.name + "_" + (key === "cutout" ? "cutout" : key) + ".png";
      links[key].hidden = false;
    }
    await Promise.all(loads);
    statusEl.textContent = body.model + " · " + body.width + "×" + body.height + " · " + body.time.toFixed(2) + " s";
    setState("done");
  }

  function take(file) {
    if (!file) return;
    clearError();
    clearResults();
    if (inputUrl) URL.revokeObjectURL(inputUrl);
    inputUrl = URL.createObjectURL(file);
    const input = $("input");
    input.onerror = () => input.removeAttribute("src");
    input.src = inputUrl;
    if (file.size > maxBytes) {
      current = null;
      statusEl.textContent = "";
      showError(file.name + ": " + megabytes(file.size) + " is over the upload limit of " + megabytes(maxBytes));
      return;
    }
    current = file;
    run();
  }

  fileInput.addEventListener("change", () => { take(fileInput.files[0]); });
  drop.addEventListener("click", (e) => { if (e.target !== fileInput) fileInput.click(); });
  drop.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); fileInput.click(); } });
  for (const type of ["dragenter", "dragover"]) {
    drop.addEventListener(type, (e) => { e.preventDefault(); drop.classList.add("over"); });
  }
  for (const type of ["dragleave", "drop"]) {
    drop.addEventListener(type, (e) => { e.preventDefault(); drop.classList.remove("over"); });
  }
  drop.addEventListener("drop", (e) => { take(e.dataTransfer.files[0]); });
  window.addEventListener("dragover", (e) => e.preventDefault());
  window.addEventListener("drop", (e) => e.preventDefault());
  document.addEventListener("paste", (e) => {
    const item = [...(e.clipboardData?.files || [])][0];
    if (item) take(item);
  });
  for (const radio of document.querySelectorAll("input[name=bg]")) radio.addEventListener("change", run);
  colourInput.addEventListener("change", () => { $("bg-custom").checked = true; run(); });
  modelSelect.addEventListener("change", run);

  fetch("/health").then((r) => r.json()).then((h) => {
    maxBytes = h.max_upload_bytes;
    $("limits").textContent = "PNG, JPEG, WebP, TIFF or BMP · up to " + megabytes(h.max_upload_bytes) +
      " and " + Math.round(h.max_pixels / 1e6) + " MP";
  }).catch(() => {});
  fetch("/models").then((r) => r.json()).then((m) => {
    for (const name of m.allowed) {
      const option = document.createElement("option");
      option.value = option.textContent = name;
      option.selected = name === m.model;
      modelSelect.appendChild(option);
    }
  }).catch(() => {});
})();
