// tracecert consumer pages: sign-in with a one-time code, the claim on the scan page, and
// "my certificates". The pages are rendered on the server; this script only adds what needs
// the API. It reads its strings and values from data-* attributes on <body> (the CSP allows
// no inline script) and writes text with textContent only, never HTML.

const SESSION_KEY = "tracecert.consumer.session";
const POLL_MS = 1000; // claims are batched within about a second, then mined
const SLOW_POLL_MS = 5000; // after POLL_LIMIT polls, ask less often
const POLL_LIMIT = 120;
const REQUEST_TIMEOUT_MS = 20000;

const page = document.body.dataset;
const TEXT = parseJson(page.text, {});

function parseJson(raw, fallback) {
  try {
    return raw ? JSON.parse(raw) : fallback;
  } catch {
    return fallback;
  }
}

/** The page's string ``key`` with ``{name}`` placeholders filled in. */
function t(key, values = {}) {
  const text = typeof TEXT[key] === "string" ? TEXT[key] : key;
  return text.replace(/\{(\w+)\}/g, (whole, name) => (name in values ? String(values[name]) : whole));
}

function label(prefix, value) {
  const key = `${prefix}_${value}`;
  return key in TEXT ? TEXT[key] : String(value ?? "");
}

const day = (iso) => (typeof iso === "string" ? iso.slice(0, 10) : "");
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function uuid() {
  if (typeof crypto.randomUUID === "function") return crypto.randomUUID();
  // randomUUID exists only in secure contexts (https, localhost); a v4 UUID by hand otherwise.
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

// ----------------------------------------------------------------------------- session
const session = {
  /** The stored session, or null when there is none or it has expired. */
  get() {
    let stored = null;
    try {
      stored = JSON.parse(localStorage.getItem(SESSION_KEY) || "null");
    } catch {
      stored = null;
    }
    if (!stored || typeof stored.token !== "string") return null;
    if (Date.parse(stored.expires_at) <= Date.now()) {
      this.clear();
      return null;
    }
    return stored;
  },
  set(value) {
    localStorage.setItem(SESSION_KEY, JSON.stringify(value));
  },
  clear() {
    localStorage.removeItem(SESSION_KEY);
  },
};

// ----------------------------------------------------------------------------- API
class ApiError extends Error {
  constructor(status, code, detail) {
    super(detail);
    this.status = status; // 0: no answer (network)
    this.code = code;
    this.detail = detail;
  }
}

/** Call the API; answer its JSON or throw an ApiError carrying the server's sentence. */
async function api(path, { method = "GET", body, auth = false, headers = {} } = {}) {
  const sent = { Accept: "application/json", ...headers };
  if (body !== undefined) sent["Content-Type"] = "application/json";
  if (auth) {
    const current = session.get();
    if (!current) throw new ApiError(401, "invalid_session", t("session_ended"));
    sent.Authorization = `Bearer ${current.token}`;
  }
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), REQUEST_TIMEOUT_MS);
  let response;
  try {
    response = await fetch(path, {
      method,
      headers: sent,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: abort.signal,
      cache: "no-store",
      credentials: "omit", // the token travels in the header only
    });
  } catch {
    throw new ApiError(0, "network", t("network"));
  } finally {
    clearTimeout(timer);
  }
  if (response.status === 204) return null;
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok) {
    if (response.status === 401 && auth) session.clear();
    const detail =
      data && typeof data.detail === "string" && data.detail
        ? data.detail
        : t("server", { status: response.status });
    throw new ApiError(response.status, (data && data.error) || `http_${response.status}`, detail);
  }
  return data;
}

function show(element, text) {
  element.textContent = text;
  element.hidden = !text;
}

function busy(form, on) {
  for (const control of form.querySelectorAll("button, input")) control.disabled = on;
}

// ----------------------------------------------------------------------------- sign-in
/** Wire the sign-in block (_signin.html) inside ``root``; ``onChange(session|null)`` runs
 * at start and whenever the visitor signs in or out. */
function signIn(root, onChange) {
  const box = root.querySelector(".signin");
  const who = root.querySelector(".who");
  const destinationForm = box.querySelector(".destination-form");
  const codeForm = box.querySelector(".code-form");
  const error = box.querySelector(".signin-error");
  let challenge = null;

  function render() {
    const current = session.get();
    box.hidden = Boolean(current);
    who.hidden = !current;
    who.querySelector(".who-name").textContent = current ? current.sign_in || "" : "";
    onChange(current);
  }

  function restart() {
    challenge = null;
    codeForm.reset();
    codeForm.hidden = true;
    destinationForm.hidden = false;
  }

  destinationForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    show(error, "");
    busy(destinationForm, true);
    try {
      const sent = await api("/accounts/codes", {
        method: "POST",
        body: { destination: destinationForm.elements.destination.value.trim() },
      });
      challenge = sent.challenge_id;
      const minutes = Math.max(1, Math.round((Date.parse(sent.expires_at) - Date.now()) / 60000));
      show(codeForm.querySelector(".sent"), t("code_sent", { to: sent.sent_to, minutes }));
      destinationForm.hidden = true;
      codeForm.hidden = false;
      codeForm.elements.code.focus();
    } catch (e) {
      show(error, e.detail);
    } finally {
      busy(destinationForm, false);
    }
  });

  codeForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    show(error, "");
    busy(codeForm, true);
    try {
      const opened = await api("/accounts/sessions", {
        method: "POST",
        body: { challenge_id: challenge, code: codeForm.elements.code.value.trim() },
      });
      session.set({
        token: opened.token,
        expires_at: opened.expires_at,
        sign_in: opened.account && opened.account.sign_in,
      });
      restart();
      render();
    } catch (e) {
      show(error, e.detail);
    } finally {
      busy(codeForm, false);
    }
  });

  codeForm.querySelector(".restart").addEventListener("click", () => {
    show(error, "");
    restart();
  });

  who.querySelector(".sign-out").addEventListener("click", async () => {
    try {
      await api("/accounts/sessions/current", { method: "DELETE", auth: true });
    } catch {
      // Signed out here either way; the token expires on its own.
    }
    session.clear();
    render();
  });

  render();
  return { render };
}

// ----------------------------------------------------------------------------- scan page
function initScanPage() {
  const panel = document.getElementById("claim");
  if (!panel) return; // not genuine, or already claimed: nothing to do
  const form = panel.querySelector(".claim-form");
  const status = panel.querySelector(".claim-status");
  const error = panel.querySelector(".claim-error");
  const serial = page.serial;
  const region = page.region;
  let claimed = false;
  let attempt = null; // {pin, key}: a retry after no answer reuses the Idempotency-Key

  const account = signIn(panel, (current) => {
    form.hidden = !current || claimed;
  });

  function showCertificate(certificate) {
    status.hidden = false;
    status.dataset.state = certificate.state;
    let message;
    if (certificate.state === "active") message = t("claim_confirmed");
    else if (certificate.pending) message = t("claim_pending");
    else message = t("claim_failed", { detail: label("state", certificate.state) });
    status.querySelector(".claim-message").textContent = message;
    const tx = status.querySelector(".claim-tx");
    const hash = certificate.chain && certificate.chain.tx_hash;
    tx.hidden = !hash;
    tx.querySelector(".muted").textContent = t("tx");
    tx.querySelector("code").textContent = hash || "";
  }

  async function follow(id) {
    for (let polls = 1; ; polls += 1) {
      await sleep(polls > POLL_LIMIT ? SLOW_POLL_MS : POLL_MS);
      try {
        const certificate = await api(`/me/certificates/${encodeURIComponent(id)}`, { auth: true });
        showCertificate(certificate);
        if (!certificate.pending) return;
      } catch (e) {
        if (e.status !== 0 && e.status < 500) {
          show(error, e.detail);
          if (e.status === 401) account.render();
          return;
        }
        // No answer or a server hiccup: keep asking.
      }
    }
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    show(error, "");
    const pin = form.elements.pin.value.trim();
    const key = attempt && attempt.pin === pin ? attempt.key : uuid();
    attempt = { pin, key };
    const claim = { serial, pin };
    if (region) claim.region = region;
    busy(form, true);
    try {
      const certificate = await api("/claims", {
        method: "POST",
        body: claim,
        auth: true,
        headers: { "Idempotency-Key": key },
      });
      attempt = null;
      claimed = true;
      form.hidden = true;
      showCertificate(certificate);
      if (certificate.pending) follow(certificate.id);
    } catch (e) {
      if (e.status !== 0) attempt = null; // answered: the next try is a new request
      show(error, e.detail);
      if (e.status === 401) account.render();
    } finally {
      busy(form, false);
    }
  });
}

// ----------------------------------------------------------------------------- my certificates
function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

function labelled(className, name, value, code = false) {
  const line = element("p", className);
  line.append(element("span", "muted", name), " ");
  line.append(code ? element("code", null, value) : document.createTextNode(value));
  return line;
}

function certificateCard(certificate) {
  const card = element("li", "certificate-card");
  card.dataset.id = certificate.id;
  card.dataset.state = certificate.state;
  card.dataset.testid = "certificate-item";
  const product = certificate.product || {};
  const head = element("div", "head");
  head.append(element("strong", "name", product.name || product.gtin || certificate.serial));
  const state = element("span", "badge state", label("state", certificate.state));
  state.dataset.state = certificate.state;
  head.append(state);
  if (certificate.pending) head.append(element("span", "badge pending", t("pending")));
  card.append(head);

  card.append(labelled("serial", t("serial"), certificate.serial, true));
  let claimed = `${t("claimed")} ${day(certificate.claimed_at)}`;
  if (certificate.claim_region) claimed += ` · ${t("region")} ${certificate.claim_region}`;
  card.append(element("p", "claimed", claimed));
  const chain = certificate.chain || {};
  if (chain.tx_hash) card.append(labelled("tx", t("tx"), chain.tx_hash, true));

  const history = certificate.history || [];
  if (history.length) {
    card.append(element("p", "history-title muted", t("history")));
    const list = element("ol", "history");
    for (const step of history) {
      const item = element("li");
      item.dataset.action = step.action;
      item.append(element("time", null, day(step.at)), " ", label("action", step.action));
      if (step.status) item.append(" ", element("span", "muted", `(${label("status", step.status)})`));
      if (step.tx_hash) item.append(" ", element("code", "hash", step.tx_hash));
      list.append(item);
    }
    card.append(list);
  }
  return card;
}

function initCertificatesPage() {
  const list = document.querySelector(".certificates");
  const empty = document.querySelector(".empty");
  const error = document.querySelector(".list-error");
  let loading = 0; // a newer load supersedes an older one still in flight

  async function load() {
    const mine = ++loading;
    try {
      const certificates = await api("/me/certificates", { auth: true });
      if (mine !== loading) return;
      show(error, "");
      list.replaceChildren(...certificates.map(certificateCard));
      empty.hidden = certificates.length > 0;
      if (certificates.some((c) => c.pending)) {
        await sleep(POLL_MS);
        if (mine === loading && session.get()) load();
      }
    } catch (e) {
      if (mine !== loading) return;
      show(error, e.detail);
      if (e.status === 401) account.render();
    }
  }

  const account = signIn(document.querySelector(".account"), (current) => {
    if (current) {
      load();
    } else {
      loading += 1;
      list.replaceChildren();
      empty.hidden = true;
    }
  });
}

// ----------------------------------------------------------------------------- start
if (page.page === "scan") initScanPage();
else if (page.page === "certificates") initCertificatesPage();
document.documentElement.dataset.ready = "true";
