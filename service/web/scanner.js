// tracecert web scanner: camera or typed codes, sent as scans; queued offline, uploaded later.
//
// Camera decoding uses the npm package zxing-wasm (3.1.4, pinned in package.json), served
// from our own origin under /scanner/vendor/. Why this one among the candidates:
//   - it is actively maintained (3.x tracks ZXing-C++, the decoder our Python tests already
//     use through the zxing-cpp wheel), while jsqr, html5-qrcode and qr-scanner have had no
//     release for years and @zxing/browser is in maintenance mode;
//   - it decodes plain ImageData, so it does not depend on the BarcodeDetector API, which
//     Chromium on Linux (and so Debian's headless Chromium) does not have;
//   - besides QR it reads Data Matrix and GS1-128, which case and pallet labels also carry;
//   - it has no dependencies at run time: one ES module pair plus one .wasm file. By default
//     it would fetch the .wasm from a CDN; locateFile below points it at our origin instead,
//     so the page works without internet and its CSP can stay 'self' (+ 'wasm-unsafe-eval').
// The decoder is imported only when the camera starts, so typed codes and the offline queue
// work even where the decoder is not installed.

const PREFIX = "tracecert.scanner.";
const DEBOUNCE_MS = 3000; // the same code seen again within this window is the same scan
const FRAME_INTERVAL_MS = 120;
const MAX_DECODE_SIDE = 960; // downscale large camera frames before decoding
const UPLOAD_CHUNK = 500; // the API takes up to 5,000 scans per upload
const REQUEST_TIMEOUT_MS = 20000;
const RETRYABLE_STATUS = new Set([502, 503, 504]); // a proxy or the service is down: queue
const CAMERA_FORMATS = ["QRCode", "DataMatrix", "Code128"];
const MAX_RESULTS = 200; // cards kept on screen in a long session

const ACTIONS = {
  receive: "收货 Receive",
  dispatch: "发货 Dispatch",
  observe: "查验 Observe",
  open: "拆箱 Open",
};
const OUTCOMES = {
  sending: "发送中 sending",
  applied: "已处理 applied",
  pending: "待处理 pending",
  duplicate: "重复 duplicate",
  queued: "待上传 queued",
  error: "错误 error",
};
const KINDS = { pallet: "托盘 pallet", case: "箱 case", item: "瓶 bottle" };

// ----------------------------------------------------------------------------- storage
const store = {
  get(key, fallback) {
    try {
      const raw = localStorage.getItem(PREFIX + key);
      return raw === null ? fallback : JSON.parse(raw);
    } catch {
      return fallback;
    }
  },
  set(key, value) {
    localStorage.setItem(PREFIX + key, JSON.stringify(value));
  },
  remove(key) {
    localStorage.removeItem(PREFIX + key);
  },
};

// The device session (POST /scanner/sessions) lives in sessionStorage: this tab only, gone when
// it closes. The API key itself is never stored: it is traded for the session and forgotten.
const session = {
  get(key, fallback) {
    try {
      const raw = sessionStorage.getItem(PREFIX + key);
      return raw === null ? fallback : JSON.parse(raw);
    } catch {
      return fallback;
    }
  },
  set(key, value) {
    sessionStorage.setItem(PREFIX + key, JSON.stringify(value));
  },
  clear() {
    for (const key of ["token", "expiresAt", "me"]) sessionStorage.removeItem(PREFIX + key);
  },
};

function uuid() {
  if (typeof crypto.randomUUID === "function") return crypto.randomUUID();
  // randomUUID exists only in secure contexts (https, localhost); a v4 UUID by hand otherwise.
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

function deviceId() {
  let id = store.get("deviceId", null);
  if (typeof id !== "string" || !/^[A-Za-z0-9._:-]{1,64}$/.test(id)) {
    id = `web-${uuid()}`;
    store.set("deviceId", id);
  }
  return id;
}

function newShipmentRef() {
  const day = new Date().toISOString().slice(0, 10).replaceAll("-", "");
  const random = [...crypto.getRandomValues(new Uint8Array(4))]
    .map((x) => x.toString(16).padStart(2, "0"))
    .join("")
    .toUpperCase();
  return `WEB-${day}-${random}`;
}

// ----------------------------------------------------------------------------- elements
const $ = (id) => document.getElementById(id);
const el = {
  net: $("net"),
  queueCount: $("queue-count"),
  signin: $("signin"),
  signinForm: $("signin-form"),
  apiKey: $("api-key"),
  signinError: $("signin-error"),
  app: $("app"),
  orgName: $("org-name"),
  orgKind: $("org-kind"),
  signout: $("signout"),
  site: $("site"),
  dispatch: $("dispatch"),
  receiver: $("receiver"),
  receiverId: $("receiver-id"),
  shipmentRef: $("shipment-ref"),
  newShipment: $("new-shipment"),
  cameraStart: $("camera-start"),
  cameraStop: $("camera-stop"),
  camera: $("camera"),
  video: $("video"),
  cameraStatus: $("camera-status"),
  manualForm: $("manual-form"),
  code: $("code"),
  offlineMode: $("offline-mode"),
  upload: $("upload"),
  uploadStatus: $("upload-status"),
  results: $("results"),
};

// ----------------------------------------------------------------------------- state
const state = {
  token: session.get("token", null), // the scanner session token, never the API key
  me: session.get("me", null),
  uploading: false,
};

function currentAction() {
  const checked = document.querySelector('input[name="action"]:checked');
  return checked ? checked.value : "receive";
}

function offlineForced() {
  return el.offlineMode.checked;
}

function online() {
  return navigator.onLine && !offlineForced();
}

// ----------------------------------------------------------------------------- API
const API_ROOT = new URL("./", document.baseURI); // the page is /scanner; the API is beside it

async function api(path, { method = "GET", body, bearer } = {}) {
  const headers = { Authorization: `Bearer ${bearer || state.token}`, Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  // Throws on a network failure or timeout: the callers queue the scan then.
  const response = await fetch(new URL(path, API_ROOT), {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: "no-store",
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  });
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  return { ok: response.ok, status: response.status, data };
}

function errorText(response) {
  const data = response.data || {};
  const detail = data.detail || `HTTP ${response.status}`;
  return data.error ? `${detail} (${data.error})` : detail;
}

// ----------------------------------------------------------------------------- queue
function queue() {
  const entries = store.get("queue", []);
  return Array.isArray(entries) ? entries : [];
}

function myQueue() {
  // The queue can hold scans of an organisation that signed out: they wait for its next
  // sign-in on this device, since only its key may upload them.
  const org = state.me ? state.me.id : null;
  return queue().filter((entry) => entry && entry.body && entry.org_id === org);
}

function enqueue(body) {
  const entries = queue();
  entries.push({ org_id: state.me.id, body });
  store.set("queue", entries);
  renderQueueCount();
}

function dequeue(clientEventIds) {
  const gone = new Set(clientEventIds);
  store.set(
    "queue",
    queue().filter((entry) => !(entry && entry.body && gone.has(entry.body.client_event_id))),
  );
  renderQueueCount();
}

function renderQueueCount() {
  const n = state.me ? myQueue().length : queue().length;
  el.queueCount.textContent = String(n);
  el.queueCount.dataset.pending = n > 0 ? "true" : "false";
  el.upload.textContent = n > 0 ? `上传 Upload (${n})` : "上传 Upload";
}

function renderNet() {
  let mode = "online";
  let text = "在线 Online";
  if (offlineForced()) {
    mode = "offline";
    text = "离线模式 Offline mode";
  } else if (!navigator.onLine) {
    mode = "offline";
    text = "离线 Offline";
  }
  el.net.dataset.state = mode;
  el.net.textContent = text;
}

// ----------------------------------------------------------------------------- results
function resultItem(clientEventId) {
  for (const li of el.results.children) {
    if (li.dataset.clientEventId === clientEventId) return li;
  }
  return null;
}

function line(className, text) {
  const p = document.createElement("p");
  p.className = className;
  p.textContent = text;
  return p;
}

/** Draw (or redraw) the card of one scan: what was sent, and what came back if anything. */
function renderResult(body, outcome, { result = null, error = null } = {}) {
  let li = resultItem(body.client_event_id);
  if (li === null) {
    li = document.createElement("li");
    li.dataset.clientEventId = body.client_event_id;
    el.results.prepend(li);
    while (el.results.children.length > MAX_RESULTS) el.results.lastElementChild.remove();
  }
  li.replaceChildren();
  li.dataset.outcome = outcome;
  li.dataset.code = body.code;
  const alert = result && result.alert;
  li.dataset.alert = alert ? "true" : "false";

  const head = document.createElement("div");
  head.className = "head";
  const action = document.createElement("span");
  action.textContent = ACTIONS[body.action] || body.action;
  const status = document.createElement("span");
  status.className = "outcome";
  status.textContent = OUTCOMES[outcome] || outcome;
  head.append(action, status);
  li.append(head, line("code", (result && result.code) || body.code));

  if (result) {
    const meta = [];
    if (result.kind) meta.push(KINDS[result.kind] || result.kind);
    if (result.items !== undefined && result.items !== null) meta.push(`件数 Items: ${result.items}`);
    if (result.shipment) meta.push(`发货单 Shipment: ${result.shipment}`);
    if (result.shipment_status) meta.push(`状态 Status: ${result.shipment_status}`);
    if (result.already) meta.push("已处理过 already done");
    if (meta.length) li.append(line("meta", meta.join(" · ")));
    if (result.outcome === "pending" && result.detail) {
      li.append(line("meta", `等待 Waiting: ${result.detail}`));
    }
  } else if (outcome === "queued") {
    li.append(line("meta", `${new Date(body.time).toLocaleString()} · 联网后上传 uploads when online`));
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "secondary";
    remove.textContent = "移除 Remove";
    remove.addEventListener("click", () => {
      dequeue([body.client_event_id]);
      li.remove();
    });
    li.append(remove);
  }
  if (error) li.append(line("detail", error));
  if (alert) {
    const warning = document.createElement("div");
    warning.className = "diversion";
    warning.setAttribute("role", "alert");
    warning.dataset.testid = "diversion";
    const who = alert.responsible ? alert.responsible.name : "?";
    const kind = alert.kind === "diversion" ? "窜货预警 Diversion alert" : `预警 Alert: ${alert.kind}`;
    warning.textContent = `⚠ ${kind} — 责任方 Responsible: ${who}`;
    li.append(warning);
    if (navigator.vibrate) navigator.vibrate([200, 100, 200]);
  }
  return li;
}

// ----------------------------------------------------------------------------- scanning
/** What the server takes from a read: Digital Link URIs and SSCCs as they are; GS1 element
 * strings (from Data Matrix or GS1-128, in the decoder's "(00)..." form) become the SSCC or
 * the bottle's serial. */
function normaliseCode(raw) {
  const text = String(raw || "").trim();
  const sscc = /^\(00\)(\d{18})$/.exec(text);
  if (sscc) return sscc[1];
  const serial = /\(21\)([^()]+)/.exec(text);
  if (text.startsWith("(01)") && serial) return serial[1];
  return text;
}

function chosenReceiver() {
  const typed = Number.parseInt(el.receiverId.value, 10);
  const chosen = Number.parseInt(el.receiver.value, 10);
  const receiver = Number.isInteger(typed) ? typed : chosen;
  return Number.isInteger(receiver) && receiver >= 1 ? receiver : null;
}

/** What is missing before a scan can be sent, or null. */
function scanProblem() {
  if (!Number.isInteger(Number.parseInt(el.site.value, 10))) {
    return "请先选择站点 Choose the site first.";
  }
  if (currentAction() === "dispatch" && chosenReceiver() === null) {
    return "请选择收货方 Choose the receiver first.";
  }
  return null;
}

function scanBody(code) {
  const problem = scanProblem();
  if (problem) return { problem };
  const action = currentAction();
  const body = {
    action,
    code,
    client_event_id: uuid(),
    time: new Date().toISOString(),
    site_id: Number.parseInt(el.site.value, 10),
  };
  if (action === "dispatch") {
    body.receiver_id = chosenReceiver();
    body.shipment = shipmentFor(body.receiver_id);
  }
  return { body };
}

/** The session's shipment reference; a dispatch to another receiver starts a new one. */
function shipmentFor(receiver) {
  let current = JSON.parse(sessionStorage.getItem(PREFIX + "shipment") || "null");
  if (!current || (current.receiver !== null && current.receiver !== receiver)) {
    current = { ref: newShipmentRef(), receiver: null };
  }
  current.receiver = receiver;
  sessionStorage.setItem(PREFIX + "shipment", JSON.stringify(current));
  el.shipmentRef.textContent = current.ref;
  return current.ref;
}

function showShipment(fresh = false) {
  let current = JSON.parse(sessionStorage.getItem(PREFIX + "shipment") || "null");
  if (fresh || !current) {
    current = { ref: newShipmentRef(), receiver: null };
    sessionStorage.setItem(PREFIX + "shipment", JSON.stringify(current));
  }
  el.shipmentRef.textContent = current.ref;
}

async function submitCode(raw) {
  const code = normaliseCode(raw);
  if (!code) return false;
  const { body, problem } = scanBody(code);
  if (problem) {
    el.cameraStatus.textContent = problem;
    el.site.focus();
    return false;
  }
  if (!online()) {
    enqueue(body);
    renderResult(body, "queued");
    return true;
  }
  renderResult(body, "sending");
  let response;
  try {
    response = await api("scans", { method: "POST", body });
  } catch {
    enqueue(body); // no answer at all: the scan waits for an upload (client_event_id dedupes)
    renderResult(body, "queued");
    return true;
  }
  if (response.ok) {
    renderResult(body, response.data.outcome || "applied", { result: response.data });
  } else if (RETRYABLE_STATUS.has(response.status)) {
    enqueue(body);
    renderResult(body, "queued", { error: errorText(response) });
  } else if (response.status === 401) {
    // The session expired or was ended: keep the scan for the next sign-in, ask for the key.
    enqueue(body);
    renderResult(body, "queued", { error: errorText(response) });
    sessionExpired(response);
  } else {
    renderResult(body, "error", { error: errorText(response) });
  }
  return true;
}

// ----------------------------------------------------------------------------- upload
async function upload({ automatic = false } = {}) {
  if (state.uploading || !state.me) return;
  const pending = myQueue();
  if (pending.length === 0) {
    if (!automatic) {
      el.uploadStatus.className = "muted";
      el.uploadStatus.textContent = "没有待上传的扫描 Nothing to upload.";
    }
    return;
  }
  state.uploading = true;
  el.upload.disabled = true;
  el.uploadStatus.className = "muted";
  el.uploadStatus.textContent = `上传中 Uploading ${pending.length}…`;
  const totals = {};
  try {
    for (let start = 0; start < pending.length; start += UPLOAD_CHUNK) {
      const chunk = pending.slice(start, start + UPLOAD_CHUNK).map((entry) => entry.body);
      let response;
      try {
        response = await api("scans/upload", {
          method: "POST",
          body: { device_id: deviceId(), scans: chunk },
        });
      } catch {
        el.uploadStatus.textContent = "仍然离线，稍后重试 Still offline; the scans stay queued.";
        return;
      }
      if (response.status === 401) {
        el.uploadStatus.textContent = "会话已过期 Session expired; the scans stay queued.";
        sessionExpired(response);
        return;
      }
      if (!response.ok) {
        // The server refuses a whole upload when one scan is wrong: keep them all.
        el.uploadStatus.textContent = `上传失败 Upload refused: ${errorText(response)}`;
        el.uploadStatus.className = "error";
        return;
      }
      const results = response.data.results || [];
      const byId = new Map(results.map((r) => [r.client_event_id, r]));
      for (const body of chunk) {
        const result = byId.get(body.client_event_id);
        if (result) renderResult(body, result.outcome, { result });
      }
      for (const [outcome, n] of Object.entries(response.data.counts || {})) {
        totals[outcome] = (totals[outcome] || 0) + n;
      }
      dequeue(chunk.map((body) => body.client_event_id));
    }
    const summary = Object.entries(totals)
      .map(([outcome, n]) => `${OUTCOMES[outcome] || outcome}: ${n}`)
      .join(", ");
    el.uploadStatus.className = "muted";
    el.uploadStatus.textContent = `已上传 Uploaded — ${summary}`;
  } finally {
    state.uploading = false;
    el.upload.disabled = false;
    renderQueueCount();
  }
}

// ----------------------------------------------------------------------------- camera
const camera = { stream: null, timer: null, decoder: null, seen: new Map(), canvas: null, reads: 0 };

async function loadDecoder() {
  if (camera.decoder) return camera.decoder;
  const zxing = await import("./vendor/zxing-wasm/reader/index.js");
  // Never the package's default CDN: the .wasm comes from our origin, next to the module.
  await zxing.prepareZXingModule({
    overrides: {
      locateFile: (path, prefix) =>
        path.endsWith(".wasm")
          ? new URL(`./vendor/zxing-wasm/reader/${path}`, import.meta.url).href
          : prefix + path,
    },
    fireImmediately: true,
  });
  camera.decoder = zxing;
  return zxing;
}

/** True when ``code`` was seen less than DEBOUNCE_MS ago; a label held in view keeps its
 * window open, so it counts once however many frames show it. */
function isRepeat(code) {
  const now = performance.now();
  for (const [seen, at] of camera.seen) {
    if (now - at >= DEBOUNCE_MS) camera.seen.delete(seen);
  }
  const repeat = camera.seen.has(code);
  camera.seen.set(code, now);
  return repeat;
}

async function decodeFrame() {
  const video = el.video;
  if (!camera.stream || video.readyState < 2 || !video.videoWidth) return;
  const scale = Math.min(1, MAX_DECODE_SIDE / Math.max(video.videoWidth, video.videoHeight));
  const width = Math.round(video.videoWidth * scale);
  const height = Math.round(video.videoHeight * scale);
  if (!camera.canvas) camera.canvas = document.createElement("canvas");
  const canvas = camera.canvas;
  canvas.width = width;
  canvas.height = height;
  const context = canvas.getContext("2d", { willReadFrequently: true });
  context.drawImage(video, 0, 0, width, height);
  const image = context.getImageData(0, 0, width, height);
  const reads = await camera.decoder.readBarcodes(image, {
    formats: CAMERA_FORMATS,
    tryHarder: true,
    maxNumberOfSymbols: 4,
  });
  for (const read of reads) {
    if (!read.isValid || !read.text) continue;
    camera.reads += 1;
    el.cameraStatus.dataset.reads = String(camera.reads); // every read, repeats included
    const problem = scanProblem();
    if (problem) {
      el.cameraStatus.textContent = problem; // not counted as seen: it is read again once fixed
      continue;
    }
    const code = normaliseCode(read.text);
    if (isRepeat(code)) continue;
    if (navigator.vibrate) navigator.vibrate(60);
    el.cameraStatus.textContent = `已读取 Read: ${code}`;
    await submitCode(code);
  }
}

function scheduleFrame() {
  camera.timer = setTimeout(async () => {
    try {
      await decodeFrame();
    } catch (error) {
      el.cameraStatus.textContent = `解码失败 Decoding failed: ${error.message || error}`;
    }
    if (camera.stream) scheduleFrame();
  }, FRAME_INTERVAL_MS);
}

async function startCamera() {
  if (camera.stream) return;
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    el.cameraStatus.textContent =
      "此页面无法使用摄像头（需要 HTTPS）The camera needs HTTPS here; type the code instead.";
    return;
  }
  el.cameraStart.disabled = true;
  el.cameraStatus.textContent = "正在启动 Starting the camera…";
  try {
    await loadDecoder();
    const stream = await navigator.mediaDevices.getUserMedia({
      audio: false,
      video: { facingMode: { ideal: "environment" }, width: { ideal: 1280 }, height: { ideal: 720 } },
    });
    camera.stream = stream;
    el.video.srcObject = stream;
    el.camera.hidden = false;
    await el.video.play();
    el.cameraStart.hidden = true;
    el.cameraStop.hidden = false;
    el.cameraStatus.textContent = "对准条码 Point the camera at a label.";
    el.cameraStatus.dataset.camera = "on";
    scheduleFrame();
  } catch (error) {
    stopCamera();
    el.cameraStatus.textContent = `摄像头不可用 Camera unavailable: ${error.message || error}`;
  } finally {
    el.cameraStart.disabled = false;
  }
}

function stopCamera() {
  clearTimeout(camera.timer);
  camera.timer = null;
  if (camera.stream) {
    for (const track of camera.stream.getTracks()) track.stop();
  }
  camera.stream = null;
  el.video.srcObject = null;
  el.camera.hidden = true;
  el.cameraStart.hidden = false;
  el.cameraStop.hidden = true;
  el.cameraStatus.dataset.camera = "off";
  el.cameraStatus.textContent = "";
}

// ----------------------------------------------------------------------------- sign in
function option(value, text) {
  const o = document.createElement("option");
  o.value = String(value);
  o.textContent = text;
  return o;
}

function renderMe({ fresh = true } = {}) {
  const me = state.me;
  el.orgName.textContent = me.name;
  el.orgKind.textContent = `(${me.kind} #${me.id})`;
  const savedSite = String(store.get("site", ""));
  el.site.replaceChildren(option("", "— 请选择 choose —"));
  for (const site of me.sites || []) {
    const where = site.region_path ? ` · ${site.region_path}` : "";
    el.site.append(option(site.id, `${site.name} (${site.kind})${where}`));
  }
  if ((me.sites || []).length === 1) el.site.value = String(me.sites[0].id);
  if ([...el.site.options].some((o) => o.value === savedSite && savedSite)) el.site.value = savedSite;
  el.receiver.replaceChildren(option("", "— 请选择 choose —"));
  for (const child of me.children || []) {
    el.receiver.append(option(child.organisation_id, `${child.name} (${child.kind} #${child.organisation_id})`));
  }
  el.signin.hidden = true;
  el.app.hidden = false;
  if (fresh) {
    el.results.replaceChildren();
    for (const entry of myQueue()) renderResult(entry.body, "queued");
  }
  renderQueueCount();
}

/** Trade the API ``key`` for a scanner session (POST /scanner/sessions), then load the
 * organisation with it. Only the session token is kept, in sessionStorage; the key is dropped.
 * Returns ``{problem, status}``: problem is null on success, status null when nothing answered. */
async function signIn(key) {
  let opened;
  try {
    opened = await api("scanner/sessions", { method: "POST", bearer: key });
  } catch {
    return { problem: "无法连接服务器 Cannot reach the server; sign in when online.", status: null };
  }
  if (!opened.ok) return { problem: errorText(opened), status: opened.status };
  state.token = opened.data.token;
  session.set("token", state.token);
  session.set("expiresAt", opened.data.expires_at);
  return refreshMe({ fresh: true });
}

/** Load the organisation (sites may have changed) with the session; upload what waits. */
async function refreshMe({ fresh = false } = {}) {
  let response;
  try {
    response = await api("me");
  } catch {
    return { problem: "无法连接服务器 Cannot reach the server; sign in when online.", status: null };
  }
  if (!response.ok) {
    if (response.status === 401) sessionExpired(response);
    return { problem: errorText(response), status: response.status };
  }
  state.me = response.data;
  session.set("me", state.me);
  renderMe({ fresh });
  if (online()) upload({ automatic: true });
  return { problem: null, status: response.status };
}

/** Forget the session on this page and show the sign-in form (queued scans stay). */
function showSignIn(message) {
  stopCamera();
  session.clear();
  state.token = null;
  state.me = null;
  el.app.hidden = true;
  el.signin.hidden = false;
  el.apiKey.value = "";
  el.results.replaceChildren();
  renderQueueCount();
  if (message) {
    el.signinError.textContent = message;
    el.signinError.hidden = false;
  }
  el.apiKey.focus();
}

/** The server refused the session (expired, signed out elsewhere, key revoked). */
function sessionExpired(response) {
  if (!state.token) return;
  showSignIn(`会话已结束，请重新输入 API 密钥 Session ended; paste the API key again. (${errorText(response)})`);
}

function signOut() {
  const token = state.token;
  if (token) {
    // End it on the server too; if that fails (offline) it still expires on its own.
    api("scanner/sessions/current", { method: "DELETE", bearer: token }).catch(() => {});
  }
  showSignIn(null);
}

// ----------------------------------------------------------------------------- wiring
function wire() {
  el.signinForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    el.signinError.hidden = true;
    const key = el.apiKey.value.trim();
    el.apiKey.value = ""; // the key is not kept, not even in the form
    const { problem } = await signIn(key);
    if (problem) {
      state.token = null;
      session.clear();
      el.signinError.textContent = problem;
      el.signinError.hidden = false;
    }
  });
  el.signout.addEventListener("click", signOut);
  el.site.addEventListener("change", () => store.set("site", el.site.value));
  for (const radio of document.querySelectorAll('input[name="action"]')) {
    radio.addEventListener("change", () => {
      store.set("action", currentAction());
      el.dispatch.hidden = currentAction() !== "dispatch";
    });
  }
  el.newShipment.addEventListener("click", () => showShipment(true));
  el.manualForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const value = el.code.value;
    if (await submitCode(value)) {
      el.code.value = "";
    }
    el.code.focus();
  });
  el.cameraStart.addEventListener("click", startCamera);
  el.cameraStop.addEventListener("click", stopCamera);
  document.addEventListener("visibilitychange", () => {
    if (document.hidden) stopCamera();
  });
  el.offlineMode.addEventListener("change", () => {
    store.set("offline", el.offlineMode.checked);
    renderNet();
    if (online()) upload({ automatic: true });
  });
  el.upload.addEventListener("click", () => upload());
  window.addEventListener("online", () => {
    renderNet();
    if (online()) upload({ automatic: true });
  });
  window.addEventListener("offline", renderNet);
}

function start() {
  wire();
  deviceId();
  el.offlineMode.checked = store.get("offline", false) === true;
  const action = store.get("action", "receive");
  const radio = document.querySelector(`input[name="action"][value="${CSS.escape(action)}"]`);
  if (radio) radio.checked = true;
  el.dispatch.hidden = currentAction() !== "dispatch";
  showShipment();
  renderNet();
  renderQueueCount();
  // Earlier versions kept the API key itself in localStorage: remove it.
  store.remove("apiKey");
  store.remove("me");
  const expiresAt = Date.parse(session.get("expiresAt", ""));
  if (state.token && state.me && !(expiresAt <= Date.now())) {
    renderMe();
    // Refresh the organisation (sites may have changed) and upload what waits, when online.
    if (navigator.onLine) refreshMe();
  } else if (state.token) {
    showSignIn("会话已过期，请重新输入 API 密钥 Session expired; paste the API key again.");
  } else {
    el.signin.hidden = false;
  }
  document.documentElement.dataset.ready = "true";
}

start();
