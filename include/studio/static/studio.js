// Video studio: chunked / presigned upload with progress, review editor with live word counts,
// rerun confirmation. No framework; each part starts only when its page element exists.
// Writes are same-origin (the browser sends Origin) and send JSON bodies: the studio refuses
// cookie-authenticated writes that are not (CSRF).
"use strict";

const BASE = document.body.dataset.base;

async function api(method, path, body) {
  const resp = await fetch(BASE + path, {
    method,
    headers: body === undefined ? {} : {"Content-Type": "application/json"},
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await resp.json().catch(() => ({}));
  if (!resp.ok) throw new Error(message(data) || `${resp.status} ${resp.statusText}`);
  return data;
}

function message(data) {
  const d = data && data.detail;
  if (Array.isArray(d)) return d.map((e) => `${(e.loc || []).slice(1).join(".")}: ${e.msg}`).join("; ");
  return d;
}

function send(method, url, body, headers, onProgress) {  // XHR: fetch has no upload progress events
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open(method, url);
    Object.entries(headers || {}).forEach(([k, v]) => xhr.setRequestHeader(k, v));
    xhr.upload.onprogress = (e) => onProgress(e.loaded);
    xhr.onload = () => {
      if (xhr.status < 300) return resolve();
      let detail = xhr.statusText;
      try { detail = message(JSON.parse(xhr.responseText)) || detail; } catch (e) { /* not JSON (S3) */ }
      reject(new Error(`${xhr.status}: ${detail}`));
    };
    xhr.onerror = () => reject(new Error("network error while uploading"));
    xhr.send(body);
  });
}

function initUpload(form) {
  const input = form.querySelector("#file");
  const zone = form.querySelector("#dropzone");
  const bar = form.querySelector("#progress");
  const status = form.querySelector("#status");
  const button = form.querySelector("#upload-button");
  const show = () => { form.querySelector("#file-name").textContent = input.files[0] ? input.files[0].name : ""; };
  input.addEventListener("change", show);
  ["dragenter", "dragover"].forEach((t) => zone.addEventListener(t, (e) => { e.preventDefault(); zone.classList.add("over"); }));
  ["dragleave", "drop"].forEach((t) => zone.addEventListener(t, () => zone.classList.remove("over")));
  zone.addEventListener("drop", (e) => { e.preventDefault(); input.files = e.dataTransfer.files; show(); });

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const file = input.files[0];
    if (!file) { status.textContent = "Choose a video file first."; return; }
    if (file.size > Number(form.dataset.maxBytes)) {
      status.textContent = `This file is ${(file.size / 2 ** 20).toFixed(0)} MB; the limit is ${(form.dataset.maxBytes / 2 ** 20).toFixed(0)} MB.`;
      return;
    }
    const fields = Object.fromEntries(new FormData(form));
    delete fields.file;
    button.disabled = true;
    bar.hidden = false;
    bar.value = 0;
    const started = performance.now();
    try {
      status.textContent = "Preparing the upload…";
      const ticket = await api("POST", "/api/uploads", {
        ...fields, filename: file.name, size: file.size, content_type: file.type || "application/octet-stream",
      });
      const progress = (done) => {
        bar.value = (100 * done) / file.size;
        const secs = (performance.now() - started) / 1000;
        status.textContent = `Uploading… ${bar.value.toFixed(0)}% (${(done / 2 ** 20 / Math.max(secs, 0.001)).toFixed(1)} MB/s)`;
      };
      if (ticket.mode === "presigned") {  // a form POST to the bucket: its policy pins key, type and size
        const form = new FormData();
        Object.entries(ticket.fields).forEach(([k, v]) => form.append(k, v));
        form.append("file", file);  // S3 wants the file last
        await send("POST", ticket.url, form, {}, progress);
      } else {
        for (let n = 1; n <= ticket.parts; n++) {
          const offset = (n - 1) * ticket.part_size;
          const part = file.slice(offset, offset + ticket.part_size);
          await send("PUT", ticket.part_url.replace("{n}", n), part, {"Content-Type": "application/octet-stream"},
                     (loaded) => progress(offset + loaded));
        }
      }
      bar.value = 100;
      status.textContent = "Checking the file and starting the pipeline…";
      const done = await fetch(ticket.finalize_url, {method: "POST"});
      const result = await done.json().catch(() => ({}));
      if (!done.ok) throw new Error(message(result) || done.statusText);
      window.location.assign(result.url);
    } catch (err) {
      status.textContent = `Upload failed: ${err.message}`;
      button.disabled = false;
    }
  });
}

function words(text) {
  return text.trim().split(/\s+/).filter(Boolean).length;
}

function initReview(form) {
  const video = form.dataset.video;
  const status = form.querySelector("#review-status");
  const areas = [...form.querySelectorAll("textarea")];
  const count = (area) => {
    const n = words(area.value);
    const box = area.parentElement.querySelector(".budget");
    box.querySelector(".count").textContent = n;
    box.classList.toggle("over", n > Number(area.dataset.budget));
  };
  areas.forEach((a) => { count(a); a.addEventListener("input", () => count(a)); });
  const revision = form.dataset.revision || null;  // the script we show; a newer one answers 409
  const edits = () => ({segments: areas.map((a) => ({id: a.name, text: a.value})), revision});
  const act = (button, run) => form.querySelector(button)?.addEventListener("click", async () => {
    status.textContent = "Working…";  // (no decision buttons once the script was decided)
    try { await run(); } catch (err) { status.textContent = err.message; }
  });
  act("#save-draft", async () => {
    const script = await api("PUT", `/api/videos/${video}/script`, edits());
    status.textContent = "Draft saved." + (script.warnings.length ? " " + script.warnings.join(" ") : "");
  });
  act("#approve", async () => {
    await api("POST", `/api/videos/${video}/approve`, edits());
    window.location.assign(`${BASE}/videos/${video}`);
  });
  act("#reject", async () => {
    const reason = form.querySelector("#reject-reason").value;
    if (!reason.trim()) throw new Error("Say why you reject the script.");
    await api("POST", `/api/videos/${video}/reject`, {reason, revision});
    window.location.assign(`${BASE}/videos/${video}`);
  });
}

function initVideo(page) {
  const video = page.dataset.video;
  const plan = JSON.parse(page.dataset.plan);
  const dialog = page.querySelector("#rerun-dialog");
  let stage = null;
  page.querySelectorAll("button.rerun").forEach((b) => b.addEventListener("click", () => {
    stage = b.dataset.stage;
    page.querySelector("#rerun-stage").textContent = stage;
    page.querySelector("#rerun-list").replaceChildren(...(plan[stage] || [stage]).map((s) => {
      const li = document.createElement("li");
      li.textContent = s;
      return li;
    }));
    page.querySelector("#rerun-status").textContent = "";
    dialog.showModal();
  }));
  page.querySelector("#rerun-confirm").addEventListener("click", async (e) => {
    e.preventDefault();
    try {
      await api("POST", `/api/videos/${video}/rerun`, {from_stage: stage});
      window.location.reload();
    } catch (err) {
      page.querySelector("#rerun-status").textContent = err.message;
    }
  });
  const qc = page.querySelector("#qc-panel");
  const decideQc = (decision) => async () => {
    const reason = qc.querySelector("#qc-reason").value;
    if (decision === "rejected" && !reason.trim()) {
      qc.querySelector("#qc-status").textContent = "Say why you reject the video.";
      return;
    }
    try {
      await api("POST", `/api/videos/${video}/qc-review`, {decision, reason, final_sha256: qc.dataset.sha});
      window.location.reload();
    } catch (err) { qc.querySelector("#qc-status").textContent = err.message; }
  };
  qc?.querySelector("#qc-approve")?.addEventListener("click", decideQc("approved"));
  qc?.querySelector("#qc-reject")?.addEventListener("click", decideQc("rejected"));
  if (!["success", "failed"].includes(page.dataset.state)) {  // follow a running video
    const busy = () => dialog.open || (qc && (qc.contains(document.activeElement)
      || qc.querySelector("#qc-reason")?.value));  // a reviewer typing: do not reload
    setInterval(() => { if (!busy()) window.location.reload(); }, 4000);
  }
}

const forms = {"#upload-form": initUpload, "#review-form": initReview, "#video-page": initVideo};
Object.entries(forms).forEach(([sel, init]) => { const el = document.querySelector(sel); if (el) init(el); });
