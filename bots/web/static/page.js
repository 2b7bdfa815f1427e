// openkoi's web page: live refresh of the server-rendered panels, decisions and new tasks through the API,
// and a task's progress over Server-Sent Events. No framework, no build step. Text from the server is put in
// the page with textContent, or as HTML the server rendered with escaping (parsed inert by DOMParser).
"use strict";

(function () {
  const PAGE = { "X-OpenKoi-Page": "1" };  // with the HttpOnly cookie: a change made by this page (CSRF guard)
  const body = document.body;
  const refreshMs = Math.max(500, Number(body.dataset.refresh || "2") * 1000);

  function flash(text, isError) {
    const box = document.getElementById("flash");
    if (!box) return;
    box.textContent = text;
    box.className = isError ? "error shown" : "shown";
  }

  function signIn() {
    window.location.assign("/sign-in");
  }

  // Replace the element with id `id` by the element of the same id the server renders at `url`.
  async function swap(id, url) {
    const old = document.getElementById(id);
    if (!old || !url) return;
    const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } });
    if (response.status === 401) return signIn();
    if (!response.ok) return;
    const parsed = new DOMParser().parseFromString(await response.text(), "text/html");
    const fresh = parsed.getElementById(id);
    if (fresh) old.replaceWith(document.adoptNode(fresh));
  }

  function refreshPanels(all) {
    for (const panel of document.querySelectorAll("[data-fragment]")) {
      if (all || panel.dataset.live === "yes") swap(panel.id, panel.dataset.fragment).catch(() => {});
    }
  }

  async function problemText(response) {
    try {
      const answer = await response.json();
      return answer.detail || answer.message || answer.title || String(response.status);
    } catch (e) {
      return String(response.status);
    }
  }

  // Decision buttons: POST to the API's route the button names.
  document.addEventListener("click", async (event) => {
    const button = event.target.closest("button[data-post]");
    if (button) {
      event.preventDefault();
      button.disabled = true;
      try {
        const response = await fetch(button.dataset.post, { method: "POST", credentials: "same-origin", headers: PAGE });
        if (response.status === 401) return signIn();
        if (response.ok) {
          const answer = await response.json();
          flash(answer.message || ("done: " + (answer.status || "")), false);
        } else {
          flash(await problemText(response), true);
        }
      } catch (e) {
        flash("the service did not answer: " + e, true);
      }
      button.disabled = false;
      refreshPanels(true);
      return;
    }
    const digest = event.target.closest("button[data-digest]");
    if (digest) {
      event.preventDefault();
      swap("digest", "/page/digests/" + digest.dataset.digest).catch(() => {});
    }
  });

  // Starting a task: POST /api/v1/tasks with the form's fields as JSON.
  const start = document.getElementById("start");
  if (start) {
    start.addEventListener("submit", async (event) => {
      event.preventDefault();
      const form = new FormData(start);
      const request = { task: String(form.get("task") || "").trim(), simulate: form.get("simulate") === "on" };
      for (const [name, parse] of [["iterations", parseInt], ["quality", parseFloat], ["budget_usd", parseFloat]]) {
        const raw = String(form.get(name) || "").trim();
        if (raw) request[name] = parse(raw);
      }
      const response = await fetch("/api/v1/tasks", {
        method: "POST",
        credentials: "same-origin",
        headers: Object.assign({ "Content-Type": "application/json" }, PAGE),
        body: JSON.stringify(request),
      });
      if (response.status === 401) return signIn();
      if (response.status === 202) {
        const answer = await response.json();
        flash("started task " + answer.id, false);
        start.reset();
        refreshPanels(false);
      } else {
        flash(await problemText(response), true);
      }
    });
  }

  // A task's page: follow its events; redraw the detail when something it shows changed.
  const taskId = body.dataset.task;
  if (taskId) {
    const progress = document.getElementById("progress");
    const stream = document.getElementById("stream");
    const state = document.getElementById("stream-state");
    const redraw = new Set(["deliberation_ready", "confirmation_needed", "confirmation_resolved", "iteration_started",
      "executed", "evaluated", "decided", "action_approval_needed", "action_decided", "action_ended",
      "task_finished", "task_failed"]);
    let pending = null;
    const redrawSoon = () => {
      if (pending) return;
      pending = setTimeout(() => { pending = null; swap("detail", "/page/tasks/" + taskId).catch(() => {}); }, 150);
    };
    const source = new EventSource("/api/v1/tasks/" + encodeURIComponent(taskId) + "/events");
    source.onopen = () => { state.textContent = "live"; };
    const finished = new Set(["done", "below_bar", "aborted", "escalated", "failed", "cancelled"]);
    source.onerror = () => {
      // A task that ended before its events were kept has no end event: its stream just closes. Stop there.
      const detail = document.getElementById("detail");
      if (detail && finished.has(detail.dataset.status)) {
        source.close();
        state.textContent = "finished";
      } else if (state.textContent !== "finished") {
        state.textContent = "reconnecting…";
      }
    };
    const onEvent = (message) => {
      let data = {};
      try { data = JSON.parse(message.data); } catch (e) { data = {}; }
      const line = document.createElement("li");
      line.dataset.type = message.type;
      const kind = document.createElement("b");
      kind.textContent = message.type.replace(/_/g, " ");
      line.append(kind, " ", summary(message.type, data));
      progress.append(line);
      line.scrollIntoView({ block: "nearest" });
      if (message.type === "action_output" && data.chunk) {
        stream.hidden = false;
        stream.textContent += data.chunk;
      }
      if (redraw.has(message.type)) redrawSoon();
      if (message.type === "task_finished") {
        source.close();
        state.textContent = "finished";
      }
    };
    for (const type of (body.dataset.events || "").split(" ")) {
      if (type) source.addEventListener(type, onEvent);
    }
  }

  function summary(type, d) {
    const score = (s) => (typeof s === "number" ? s.toFixed(2) : "—");
    switch (type) {
      case "task_started": return "";
      case "iteration_started": return `${d.iteration} of ${d.max_iterations}`;
      case "executed": return `iteration ${d.iteration}: ${d.output_chars} characters${d.revision ? " (revision)" : ""}`;
      case "evaluated": return `iteration ${d.iteration}: score ${score(d.score)}${d.skipped ? " (skipped)" : ""}`;
      case "decided": return `iteration ${d.iteration}: ${d.decision} — ${d.reason || ""}`;
      case "confirmation_needed": return `${d.kind}: ${d.reason}`;
      case "confirmation_resolved": return d.expired ? "expired" : `${d.approved ? "approved" : "denied"} by ${d.decided_by || "—"}`;
      case "action_approval_needed": return `${d.tool} (${d.effect}) waits for Allow / Deny`;
      case "action_decided": return `${d.tool}: ${d.status}${d.decided_by ? " by " + d.decided_by : ""}`;
      case "action_reviewed": return `${d.tool}: ${d.decision}`;
      case "action_ended": return `${d.tool}: ${d.outcome}`;
      case "tool_called": return d.name || "";
      case "notice": return d.text || "";
      case "task_failed": return d.error || "";
      case "task_finished": return `${d.status} · score ${score(d.score)} · ${d.iterations} iteration(s)${d.reason ? " — " + d.reason : ""}`;
      default: return "";
    }
  }

  // The open task list and the approvals follow new tasks and status changes.
  if (document.querySelector("[data-fragment][data-live='yes']")) {
    setInterval(() => { if (!document.hidden) refreshPanels(false); }, refreshMs);
  }
  if (document.getElementById("digest")) swap("digest", "/page/digests/today").catch(() => {});
})();
