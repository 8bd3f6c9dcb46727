// The sagepipe console (docs/behaviour.md §15): three views behind the URL's hash, reading
// /_sagepipe/console/... and acting through the SageMaker API, with no build step and no
// library. Status is always written in words (and a glyph), never by colour alone.
"use strict";

const ICON = { Succeeded: "✓", Failed: "✗", Executing: "●", Starting: "◔", Stopping: "■",
  Stopped: "■", NotStarted: "○", NotRun: "–" };
const WORDS = { NotStarted: "Not started", NotRun: "Not run" };
const ACTIVE = new Set(["Executing", "Stopping", "Starting"]);
const POLL_MS = 1500;

const main = document.getElementById("main");
let session = { open: true, signed_in: false };
let timer = null;   // the current view's refresh
let view = 0;       // bumped on every navigation: late answers of an old view are dropped

// ------------------------------------------------------------------ talking to the server
class ApiError extends Error {
  constructor(code, message) { super(message); this.code = code; }
}

async function call(url, options) {
  const response = await fetch(url, { ...options, credentials: "same-origin",
    headers: { "X-Sagepipe-Console": "1", ...(options && options.headers) } });
  const text = await response.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch (e) { body = null; }
  if (!response.ok) {
    const code = (body && body.__type) || `HTTP ${response.status}`;
    const message = (body && (body.Message || body.message)) || text || response.statusText;
    if (!session.open && /MissingAuthenticationToken|UnrecognizedClient|InvalidSignature/.test(code)) {
      session.signed_in = false;
      showSignIn();
    }
    throw new ApiError(code, message);
  }
  return body;
}

const read = (path) => call(path, { method: "GET" });

// A SageMaker operation, exactly as boto3 would send it (the cookie stands in for SigV4).
const sagemaker = (operation, input) => call("/", { method: "POST", body: JSON.stringify(input),
  headers: { "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": `SageMaker.${operation}` } });

// ------------------------------------------------------------------ small helpers
function el(tag, attributes, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

const escapeXml = (text) => String(text).replace(/[&<>"']/g,
  (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);

function statusKey(status) { return (status || "NotStarted").replace(/\s/g, ""); }
function statusWords(status) { const key = statusKey(status); return WORDS[key] || key; }

function badge(status) {
  const key = statusKey(status);
  return el("span", { class: `badge s-${key}` }, `${ICON[key] || ""} ${statusWords(status)}`);
}

function when(seconds) {
  return seconds ? new Date(seconds * 1000).toLocaleString() : "—";
}

function duration(start, end) {
  if (!start) return "—";
  const total = Math.max(0, Math.round((end || Date.now() / 1000) - start));
  const h = Math.floor(total / 3600), m = Math.floor((total % 3600) / 60), s = total % 60;
  const text = h ? `${h}h ${String(m).padStart(2, "0")}m` : m ? `${m}m ${String(s).padStart(2, "0")}s` : `${s}s`;
  return end ? text : `${text} so far`;
}

function notice(target, error) {
  target.textContent = error ? (error.code ? `${error.code}: ${error.message}` : String(error)) : "";
  target.className = error && error.code ? "notice error" : "notice";
}

function crumbs(...parts) {
  const nav = document.getElementById("crumbs");
  nav.replaceChildren(...parts.map(([text, href]) =>
    href ? el("a", { href }, text) : el("span", { "aria-current": "page" }, text)));
}

// An idempotency token for RetryPipelineExecution and StopPipelineExecution (32+ characters).
function token() {
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
}

function live(text) { document.getElementById("live").textContent = text; }

function repeat(fn, ms) {
  clearTimeout(timer);
  const mine = view;
  const tick = async () => {
    if (mine !== view) return;
    let again = true;
    try { again = await fn(); } catch (e) { again = true; }
    if (mine === view && again !== false) timer = setTimeout(tick, ms);
  };
  timer = setTimeout(tick, ms);
}

// ------------------------------------------------------------------ sign-in
function showWho() {
  const who = document.getElementById("who");
  if (session.open) { who.textContent = "open server (no sign-in)"; return; }
  if (!session.signed_in) { who.textContent = ""; return; }
  who.replaceChildren(`${session.access_key} (account ${session.account}) `,
    el("button", { type: "button", onclick: signOut }, "Sign out"));
}

function showSignIn() {
  view += 1;
  clearTimeout(timer);
  crumbs(["Sign in"]);
  showWho();
  const message = el("p", { class: "notice", role: "alert" });
  const form = el("form", { class: "signin", onsubmit: async (event) => {
    event.preventDefault();
    notice(message, null);
    try {
      session = { ...session, ...await call("/console/session", { method: "POST",
        body: JSON.stringify({ access_key: form.key.value.trim(), secret_key: form.secret.value }) }) };
      form.secret.value = "";
      showWho();
      route();
    } catch (error) { notice(message, error); }
  } },
    el("label", {}, "Access key", el("input", { name: "key", autocomplete: "username", required: true })),
    el("label", {}, "Secret access key", el("input", { name: "secret", type: "password",
      autocomplete: "current-password", required: true })),
    el("button", { class: "primary", type: "submit" }, "Sign in"));
  main.replaceChildren(el("h1", {}, "Sign in"),
    el("p", { class: "muted" }, "This server verifies every request. Sign in with one of the access keys of its credentials file; the secret is exchanged for a session cookie and not kept by the page."),
    form, message);
  form.key.focus();
}

async function signOut() {
  await call("/console/session", { method: "DELETE" });
  session.signed_in = false;
  showSignIn();
}

// ------------------------------------------------------------------ pipelines
async function pipelinesView() {
  crumbs(["Pipelines"]);
  const list = el("tbody");
  const more = el("button", { type: "button", hidden: true }, "More pipelines");
  const message = el("p", { class: "notice", role: "alert" });
  main.replaceChildren(el("h1", {}, "Pipelines"), message,
    el("div", { class: "scroll" }, el("table", {},
      el("thead", {}, el("tr", {}, ["Pipeline", "Versions", "Last execution", "Started"].map((h) => el("th", { scope: "col" }, h)))),
      list)), more);
  let after = null;
  async function page() {
    const found = await read(`/_sagepipe/console/pipelines${after ? `?after=${encodeURIComponent(after)}` : ""}`);
    for (const p of found.pipelines) {
      const last = p.last_execution;
      list.append(el("tr", {},
        el("td", {}, el("a", { href: `#/pipelines/${encodeURIComponent(p.name)}` }, p.name)),
        el("td", {}, p.versions),
        el("td", {}, last ? [badge(last.status), " ", el("a", { href: `#/executions/${last.id}` }, last.id)] : el("span", { class: "muted" }, "never run")),
        el("td", {}, last ? when(last.start) : "—")));
    }
    if (!found.pipelines.length && !after) list.append(el("tr", {}, el("td", { colspan: 4, class: "muted" }, "No pipelines yet: create one with boto3, the AWS CLI or the SageMaker SDK.")));
    after = found.next;
    more.hidden = !after;
  }
  more.addEventListener("click", () => page().catch((e) => notice(message, e)));
  await page();
  live("");
}

// ------------------------------------------------------------------ executions of a pipeline
async function executionsView(name) {
  crumbs(["Pipelines", "#/"], [name]);
  const params = new URLSearchParams(location.hash.split("?")[1] || "");
  const status = params.get("status") || "";
  const filter = el("select", { id: "status-filter", onchange: () => {
    location.hash = `#/pipelines/${encodeURIComponent(name)}${filter.value ? `?status=${filter.value}` : ""}`;
  } }, ["", "Executing", "Stopping", "Stopped", "Failed", "Succeeded"].map((s) =>
    el("option", { value: s, selected: s === status }, s || "All statuses")));
  const rows = el("tbody");
  const summary = el("span", { class: "muted", id: "page-summary" });
  const newer = el("button", { type: "button" }, "← Newer");
  const older = el("button", { type: "button" }, "Older →");
  const message = el("p", { class: "notice", role: "alert" });
  main.replaceChildren(el("h1", {}, `Executions of ${name}`),
    el("div", { class: "bar" }, el("label", { for: "status-filter" }, "Status"), filter), message,
    el("div", { class: "scroll" }, el("table", {},
      el("thead", {}, el("tr", {}, ["Execution", "Status", "Started", "Ended", "Duration", "Retries", "Failure reason"].map((h) => el("th", { scope: "col" }, h)))),
      rows)),
    el("div", { class: "pager" }, newer, older, summary));
  const cursors = [null];  // cursors[i]: where page i starts
  let index = 0;
  async function show() {
    const query = new URLSearchParams();
    if (status) query.set("status", status);
    if (cursors[index]) query.set("next", cursors[index]);
    const found = await read(`/_sagepipe/console/pipelines/${encodeURIComponent(name)}/executions?${query}`);
    rows.replaceChildren(...found.executions.map((e) => el("tr", {},
      el("td", {}, el("a", { href: `#/executions/${e.id}` }, e.display_name || e.id)),
      el("td", {}, badge(e.status)), el("td", {}, when(e.start)), el("td", {}, when(e.end)),
      el("td", {}, duration(e.start, e.end)), el("td", {}, e.retries),
      el("td", { class: "reason" }, e.failure_reason || ""))));
    if (!found.executions.length) rows.append(el("tr", {}, el("td", { colspan: 7, class: "muted" }, status ? `No ${status} executions.` : "No executions yet.")));
    cursors[index + 1] = found.next;
    const pages = Math.max(1, Math.ceil(found.total / 50));
    summary.textContent = `Page ${index + 1} of ${pages} · ${found.total} execution${found.total === 1 ? "" : "s"}`;
    newer.disabled = index === 0;
    older.disabled = !found.next;
    return found.executions.some((e) => ACTIVE.has(e.status));
  }
  newer.addEventListener("click", () => { index -= 1; show().catch((e) => notice(message, e)); });
  older.addEventListener("click", () => { index += 1; show().catch((e) => notice(message, e)); });
  await show();
  repeat(async () => { if (index === 0) { await show(); live(`updated ${new Date().toLocaleTimeString()}`); } }, 3000);
}

// ------------------------------------------------------------------ one execution
function drawGraph(graph) {
  // One string, one innerHTML: a 500-step graph is drawn in one layout pass.
  const parts = [`<svg xmlns="http://www.w3.org/2000/svg" width="${graph.width}" height="${graph.height}" role="group" aria-label="Steps of the execution">`,
    `<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#8c959f"/></marker></defs>`];
  const box = new Map(graph.nodes.map((n) => [n.name, n]));
  graph.edges.forEach((e, i) => {
    const a = box.get(e.from), b = box.get(e.to);
    const start = [a.x + a.w, a.y + a.h / 2], end = [b.x, b.y + b.h / 2];
    const via = e.points.slice(1, -1);
    const points = [start, ...via, end];
    let d = `M${points[0][0]},${points[0][1]}`;
    for (let k = 1; k < points.length; k++) {
      const [x0, y0] = points[k - 1], [x1, y1] = points[k];
      const mid = (x0 + x1) / 2;
      d += ` C${mid},${y0} ${mid},${y1} ${x1},${y1}`;
    }
    parts.push(`<path class="edge ${e.kind}" data-edge="${i}" d="${d}" marker-end="url(#arrow)"/>`);
    if (e.label) {
      const [lx, ly] = points.length > 2 ? points[1] : [(start[0] + end[0]) / 2, (start[1] + end[1]) / 2];
      parts.push(`<text class="edge-label" x="${lx}" y="${ly - 4}" text-anchor="middle">${escapeXml(e.label)}</text>`);
    }
  });
  for (const n of graph.nodes) {
    const label = n.name.length > 24 ? `${n.name.slice(0, 23)}…` : n.name;
    parts.push(`<g class="node" tabindex="0" role="button" data-step="${escapeXml(n.name)}" transform="translate(${n.x},${n.y})">`,
      `<title>${escapeXml(n.name)} (${escapeXml(n.type)})</title>`,
      `<rect width="${n.w}" height="${n.h}" rx="8"/>`,
      `<text x="10" y="19">${escapeXml(label)}</text>`,
      `<text class="sub" x="10" y="37"></text></g>`);
  }
  parts.push("</svg>");
  return parts.join("");
}

// Steps on the branch a Condition did not take, and what only they lead to, never run.
function notTaken(graph, steps) {
  const skipped = new Set();
  const incoming = new Map(graph.nodes.map((n) => [n.name, []]));
  for (const e of graph.edges) incoming.get(e.to).push(e);
  for (const n of graph.nodes) {
    const branch = n.branch;
    if (!branch || steps[n.name]) continue;
    const condition = steps[branch.condition];
    if (condition && condition.status === "Succeeded" && condition.outcome !== null && condition.outcome !== branch.outcome) skipped.add(n.name);
  }
  let grew = true;
  while (grew) {
    grew = false;
    for (const n of graph.nodes) {
      if (skipped.has(n.name) || steps[n.name]) continue;
      const edges = incoming.get(n.name);
      if (edges.length && edges.every((e) => skipped.has(e.from))) { skipped.add(n.name); grew = true; }
    }
  }
  return skipped;
}

async function executionView(id) {
  const state = { selected: null, shown: null, graph: null, nodes: new Map(), steps: {}, execution: null, logTimer: null };
  const message = el("p", { class: "notice", role: "status", "aria-live": "polite", id: "action-message" });
  const header = el("div");
  const plan = el("div", { id: "retry-plan" });
  const parallelism = el("input", { type: "number", min: 1, max: 256, id: "parallelism", placeholder: "as before" });
  const retry = el("button", { type: "button", class: "primary", id: "retry" }, "Retry");
  const stop = el("button", { type: "button", class: "danger", id: "stop" }, "Stop");
  const graphBox = el("div", { class: "graph", id: "graph" }, el("p", { class: "muted" }, "Laying out the steps…"));
  const panel = el("aside", { class: "panel", id: "step-panel", "aria-live": "polite" },
    el("p", { class: "muted" }, "Choose a step (click it, or Tab to it and press Enter) to see its attempts, reasons and log."));
  const legend = el("p", { class: "legend" }, "Edges: solid = data, dotted = DependsOn, if/else = Condition branches (green: taken, grey dashed: not taken).");
  main.replaceChildren(header,
    el("div", { class: "bar" }, el("label", { for: "parallelism" }, "Parallelism"), parallelism, retry, stop),
    message, plan,
    el("div", { class: "layout" }, el("section", { "aria-label": "Step graph" }, graphBox, legend), panel));

  async function refreshPlan() {
    try {
      const found = await read(`/_sagepipe/executions/${id}/retry-plan`);
      if (found.retryable) {
        plan.replaceChildren(el("p", {}, el("strong", {}, "Retry plan: "),
          `re-runs ${found.rerun.length ? found.rerun.join(", ") : "nothing"}; keeps ${found.reuse.length ? found.reuse.join(", ") : "nothing"}.`));
      } else {
        plan.replaceChildren(el("p", { class: "muted" }, el("strong", {}, "Retry plan: "),
          `not retryable now (${found.error.code}: ${found.error.message})`));
      }
    } catch (error) { plan.replaceChildren(el("p", { class: "notice error" }, `${error.code}: ${error.message}`)); }
  }

  function paintHeader() {
    const e = state.execution;
    crumbs(["Pipelines", "#/"], [e.pipeline, `#/pipelines/${encodeURIComponent(e.pipeline)}`], [e.id]);
    header.replaceChildren(el("h1", {}, `Execution ${e.display_name || e.id} `, badge(e.status)),
      el("dl", { class: "facts" },
        el("dt", {}, "Pipeline"), el("dd", {}, `${e.pipeline} (version ${e.version})`),
        el("dt", {}, "ARN"), el("dd", {}, e.arn),
        el("dt", {}, "Started"), el("dd", {}, when(e.start)),
        el("dt", {}, "Ended"), el("dd", {}, when(e.end)),
        el("dt", {}, "Duration"), el("dd", {}, duration(e.start, e.end)),
        el("dt", {}, "Retries"), el("dd", {}, e.retries),
        e.failure_reason ? [el("dt", {}, "Failure reason"), el("dd", { id: "execution-reason" }, e.failure_reason)] : null));
    stop.disabled = !ACTIVE.has(e.status);
  }

  function paintSteps() {
    const skipped = notTaken(state.graph, state.steps);
    for (const [name, g] of state.nodes) {
      const step = state.steps[name];
      const status = step ? step.status : skipped.has(name) ? "NotRun" : "NotStarted";
      const key = statusKey(status);
      g.setAttribute("class", `node s-${key}${state.selected === name ? " selected" : ""}`);
      g.dataset.status = key;
      const attempts = step ? step.attempts : 0;
      const words = skipped.has(name) ? "Not run (branch not taken)" : statusWords(status);
      g.lastElementChild.textContent = `${ICON[key] || ""} ${words}${attempts ? ` · ${attempts} attempt${attempts === 1 ? "" : "s"}` : ""}`;
      g.setAttribute("aria-label", `${name}: ${words}${attempts ? `, ${attempts} attempt${attempts === 1 ? "" : "s"}` : ""}`);
    }
    for (const path of graphBox.querySelectorAll("path[data-edge]")) {
      const e = state.graph.edges[Number(path.dataset.edge)];
      if (e.kind !== "if" && e.kind !== "else") continue;
      const condition = state.steps[e.from];
      const decided = condition && condition.status === "Succeeded" && condition.outcome !== null;
      const taken = decided && condition.outcome === (e.kind === "if");
      path.setAttribute("class", `edge ${e.kind}${decided ? (taken ? " taken" : " not-taken") : ""}`);
    }
  }

  async function refresh() {
    const found = await read(`/_sagepipe/console/executions/${id}`);
    state.execution = found.execution;
    state.steps = found.steps;
    paintHeader();
    if (state.graph) paintSteps();
    const active = ACTIVE.has(found.execution.status) || Object.values(found.steps).some((s) => ACTIVE.has(s.status));
    live(`${active ? "live · " : ""}updated ${new Date().toLocaleTimeString()}`);
    return active;
  }

  // What the step panel shows: redrawn when the step's status or attempt count changes.
  const panelKey = (name) => { const s = state.steps[name]; return s ? `${s.status}/${s.attempts}` : "none"; };

  async function showStep(name) {
    state.selected = name;
    state.shown = panelKey(name);
    clearTimeout(state.logTimer);
    paintSteps();
    const node = state.graph.nodes.find((n) => n.name === name);
    const log = el("pre", { id: "step-log", tabindex: 0 }, "…");
    const body = el("div", {}, el("p", { class: "muted" }, "Loading…"));
    panel.replaceChildren(el("h2", {}, name), el("p", { class: "muted" }, node.type), body,
      el("h3", {}, "Log (tail)"), log);
    let detail = null, attempts = [];
    try {
      const history = await read(`/_sagepipe/executions/${id}/attempts`);
      attempts = history.attempts.filter((a) => a.step === name);
      detail = attempts.length ? await read(`/_sagepipe/console/executions/${id}/steps/${encodeURIComponent(name)}`) : null;
    } catch (error) { body.replaceChildren(el("p", { class: "notice error" }, `${error.code}: ${error.message}`)); return; }
    if (state.selected !== name) return;
    const metadata = detail && detail.metadata;
    const jobArn = metadata ? Object.values(metadata).map((m) => m && m.Arn).find(Boolean) : null;
    const last = attempts[attempts.length - 1];
    body.replaceChildren(
      el("dl", { class: "facts" },
        el("dt", {}, "Status"), el("dd", {}, detail ? badge(detail.status) : badge(state.steps[name] ? state.steps[name].status : "NotStarted")),
        el("dt", {}, "Attempts"), el("dd", {}, attempts.length),
        last && last.job_name ? [el("dt", {}, "Job"), el("dd", {}, last.job_name)] : null,
        jobArn ? [el("dt", {}, "ARN"), el("dd", {}, jobArn)] : null,
        detail && detail.failure_reason ? [el("dt", {}, "Failure reason"), el("dd", { id: "step-reason" }, detail.failure_reason)] : null),
      attempts.length ? el("div", { class: "scroll" }, el("table", { id: "attempts" },
        el("thead", {}, el("tr", {}, ["#", "Status", "Started", "Ended", "Retry", "Reason"].map((h) => el("th", { scope: "col" }, h)))),
        el("tbody", {}, attempts.map((a) => el("tr", {}, el("td", {}, a.attempt), el("td", {}, badge(a.status)),
          el("td", {}, when(a.start_time)), el("td", {}, when(a.end_time)),
          el("td", {}, a.manual_retry ? `retry ${a.manual_retry}` : "first run"),
          el("td", { class: "reason" }, a.failure_reason || "")))))) : el("p", { class: "muted" }, "This step has not started."),
      metadata ? el("details", {}, el("summary", {}, "Metadata"), el("pre", {}, JSON.stringify(metadata, null, 2))) : null,
      detail && detail.properties ? el("details", {}, el("summary", {}, "Properties"), el("pre", {}, JSON.stringify(detail.properties, null, 2))) : null);
    const follow = async () => {
      if (state.selected !== name || !document.body.contains(log)) return;
      try {
        const found = await read(`/_sagepipe/executions/${id}/steps/${encodeURIComponent(name)}/logs`);
        const lines = found.logs.split("\n");
        const atBottom = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
        log.textContent = lines.slice(-200).join("\n") || "(the step printed nothing)";
        if (atBottom) log.scrollTop = log.scrollHeight;
      } catch (error) { log.textContent = error.code === "ResourceNotFound" ? "(no log: the step has not started)" : `${error.code}: ${error.message}`; }
      const step = state.steps[name];
      if (step && ACTIVE.has(step.status)) state.logTimer = setTimeout(follow, POLL_MS);
    };
    follow();
  }

  retry.addEventListener("click", async () => {
    notice(message, null);
    const input = { PipelineExecutionArn: state.execution.arn, ClientRequestToken: token() };
    if (parallelism.value) input.ParallelismConfiguration = { MaxParallelExecutionSteps: Number(parallelism.value) };
    retry.disabled = true;  // one click, one retry; the API answers a refused one
    try {
      await sagemaker("RetryPipelineExecution", input);
      notice(message, "Retry started: the failed and stopped steps run again.");
      await refresh();
      poll();
    } catch (error) { notice(message, error); }
    retry.disabled = false;
    refreshPlan();
  });
  stop.addEventListener("click", async () => {
    notice(message, null);
    try {
      await sagemaker("StopPipelineExecution", { PipelineExecutionArn: state.execution.arn, ClientRequestToken: token() });
      notice(message, "Stop requested: running steps are being stopped.");
      await refresh();
      poll();
    } catch (error) { notice(message, error); }
  });

  function poll() {
    repeat(async () => {
      const active = await refresh();
      if (state.selected && panelKey(state.selected) !== state.shown) showStep(state.selected);
      if (!active) refreshPlan();
      return active;
    }, POLL_MS);
  }

  const [graph] = await Promise.all([read(`/_sagepipe/console/executions/${id}/graph`), refresh()]);
  state.graph = graph;
  graphBox.innerHTML = drawGraph(graph);
  for (const g of graphBox.querySelectorAll("g.node")) state.nodes.set(g.dataset.step, g);
  graphBox.addEventListener("click", (event) => {
    const g = event.target.closest("g.node");
    if (g) showStep(g.dataset.step);
  });
  graphBox.addEventListener("keydown", (event) => {
    const g = event.target.closest("g.node");
    if (g && (event.key === "Enter" || event.key === " ")) { event.preventDefault(); showStep(g.dataset.step); }
  });
  paintSteps();
  document.body.dataset.graphDrawn = String(performance.now());
  refreshPlan();
  poll();
}

// ------------------------------------------------------------------ routing
async function route() {
  view += 1;
  clearTimeout(timer);
  live("");
  if (!session.open && !session.signed_in) { showSignIn(); return; }
  const path = location.hash.replace(/^#/, "").split("?")[0] || "/";
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  try {
    if (parts[0] === "pipelines" && parts[1]) await executionsView(parts[1]);
    else if (parts[0] === "executions" && parts[1]) await executionView(parts[1]);
    else await pipelinesView();
  } catch (error) {
    if (!session.open && !session.signed_in) return;
    main.replaceChildren(el("h1", {}, "Something went wrong"),
      el("p", { class: "notice error", role: "alert" }, `${error.code || "Error"}: ${error.message}`),
      el("p", {}, el("a", { href: "#/" }, "Back to the pipelines")));
  }
}

async function start() {
  try { session = await read("/console/session"); } catch (error) { session = { open: true }; }
  showWho();
  window.addEventListener("hashchange", route);
  route();
}

start();
