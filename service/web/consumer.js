// tracecert consumer pages: sign-in with a one-time code, the claim on the scan page, and
// "my certificates". The pages are rendered on the server; this script only adds what needs
// the API. It reads its strings and values from data-* attributes on <body> (the CSP allows
// no inline script) and writes text with textContent only, never HTML.

const SESSION_KEY = "tracecert.consumer.session";
const POLL_MS = 1000; // claims are batched within about a second, then mined
const SLOW_POLL_MS = 5000; // after POLL_LIMIT polls, ask less often
const POLL_LIMIT = 120;
const REQUEST_TIMEOUT_MS = 20000;
const REFRESH_EARLY_MS = 60000; // refresh the access token this long before it expires

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
  /** The stored session, or null when there is none or it has ended. Its access token may
   * have expired: ``fresh()`` refreshes it. */
  get() {
    let stored = null;
    try {
      stored = JSON.parse(localStorage.getItem(SESSION_KEY) || "null");
    } catch {
      stored = null;
    }
    if (!stored || typeof stored.token !== "string") return null;
    const end = stored.refresh_token ? stored.refresh_expires_at : stored.expires_at;
    if (Date.parse(end) <= Date.now()) {
      this.clear();
      return null;
    }
    return stored;
  },
  /** Store the tokens of a sign-in or a refresh (keeping what the page knows beside them). */
  keep(tokens, extra = {}) {
    this.set({
      ...extra,
      token: tokens.token,
      expires_at: tokens.expires_at,
      refresh_token: tokens.refresh_token,
      refresh_expires_at: tokens.refresh_expires_at,
    });
  },
  /** The session with a live access token, refreshing it first when it is (nearly) expired
   * or ``force``d; null when the session has ended. A refresh token works once, so one
   * refresh at a time: within the page (one promise) and across tabs (a Web Lock, then
   * re-read: another tab may have refreshed already). */
  async fresh(force = false) {
    const current = this.get();
    if (!current) return null;
    const due = Date.parse(current.expires_at) - REFRESH_EARLY_MS <= Date.now();
    if (!current.refresh_token || (!due && !force)) return current;
    if (!this.refreshing) {
      const run = async () => {
        const now = this.get();
        if (!now) return null;
        if (now.refresh_token !== current.refresh_token) return now; // another tab did it
        const answer = await fetch("/accounts/sessions/refresh", {
          method: "POST",
          headers: { Accept: "application/json", "Content-Type": "application/json" },
          body: JSON.stringify({ refresh_token: now.refresh_token }),
          cache: "no-store",
          credentials: "omit",
        }).catch(() => null);
        if (answer === null) return now; // offline: try again on the next call
        if (answer.status === 401) {
          this.clear(); // ended, or the refresh token was spent elsewhere: sign in again
          return null;
        }
        if (!answer.ok) return now; // the service is busy or down: the old token, for now
        this.keep(await answer.json(), { sign_in: now.sign_in });
        return this.get();
      };
      const locked =
        navigator.locks && navigator.locks.request
          ? navigator.locks.request("tracecert.consumer.refresh", run)
          : run();
      this.refreshing = locked.finally(() => {
        this.refreshing = null;
      });
    }
    return this.refreshing;
  },
  refreshing: null,
  set(value) {
    localStorage.setItem(SESSION_KEY, JSON.stringify(value));
  },
  clear() {
    localStorage.removeItem(SESSION_KEY);
  },
};

// ----------------------------------------------------------------------------- API
class ApiError extends Error {
  constructor(status, code, detail, facts = {}) {
    super(detail);
    this.status = status; // 0: no answer (network)
    this.code = code;
    this.detail = detail;
    this.facts = facts; // what the body says beside error and detail (attempts_left, state)
  }
}

/** What to show for a refusal: the page's own words, in its language and with the count in
 * the right plural form, for the refusals it knows; the service's sentence for the others. */
function errorText(e) {
  const left = e && e.facts ? e.facts.attempts_left : undefined;
  if (Number.isInteger(left) && (e.code === "wrong_pin" || e.code === "invalid_sign_in_code")) {
    const form = left === 0 ? "none" : new Intl.PluralRules(page.lang).select(left);
    const key = `${e.code}_${form}`;
    return t(key in TEXT ? key : `${e.code}_other`, { n: left });
  }
  return e.detail;
}

/** Call the API; answer its JSON or throw an ApiError carrying the server's sentence. */
async function api(path, options = {}, retried = false) {
  const { method = "GET", body, auth = false, headers = {} } = options;
  const sent = { Accept: "application/json", ...headers };
  if (body !== undefined) sent["Content-Type"] = "application/json";
  if (auth) {
    const current = await session.fresh(retried);
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
    // An access token refused early (a clock ahead of ours): refresh once and send it again.
    if (response.status === 401 && auth && !retried && session.get()?.refresh_token) {
      return api(path, options, true);
    }
    if (response.status === 401 && auth) session.clear();
    const detail =
      data && typeof data.detail === "string" && data.detail
        ? data.detail
        : t("server", { status: response.status });
    const facts = data && typeof data === "object" ? data : {};
    throw new ApiError(response.status, facts.error || `http_${response.status}`, detail, facts);
  }
  return data;
}

function show(element, text) {
  element.textContent = text;
  element.hidden = !text;
}

function busy(form, on) {
  for (const control of form.querySelectorAll("button, input, select, textarea")) control.disabled = on;
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
      show(error, errorText(e));
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
      session.keep(opened, { sign_in: opened.account && opened.account.sign_in });
      restart();
      render();
    } catch (e) {
      show(error, errorText(e));
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
          show(error, errorText(e));
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
      show(error, errorText(e));
      if (e.status === 401) account.render();
    } finally {
      busy(form, false);
    }
  });
}

// ----------------------------------------------------------------------------- certificates
const WAIT_POLL_MS = 3000; // while the next move is someone else's (a pledgee, a custodian)
/** States in which the next move is someone else's: the list asks again now and then. */
const WAITING = new Set(["gifted", "pledge_offered", "pledged", "deposit_offered", "redemption_requested"]);

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

/** A date-time as ``YYYY-MM-DD HH:MM`` in the visitor's time zone. */
function when(iso) {
  const d = typeof iso === "string" ? new Date(iso) : null;
  if (!d || Number.isNaN(d.getTime())) return day(iso);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** Pledgees, custodians and stores (``GET /partners``): the forms' choices and the names the
 * cards show for a deal's counterparty. */
const partners = {
  byKind: { pledgee: [], custodian: [], store: [] },
  names: new Map(),
  ready: null,
  load() {
    if (!this.ready) {
      this.ready = Promise.all(
        Object.keys(this.byKind).map(async (kind) => {
          try {
            // Signed in: the partners of the brands of this consumer's own bottles.
            const found = await api(`/partners?kind=${kind}`, { auth: true });
            this.byKind[kind] = found;
            for (const p of found) this.names.set(p.id, p.name);
          } catch {
            this.ready = null; // ask again on the next load; meanwhile "partner #id"
          }
        }),
      );
    }
    return this.ready || Promise.resolve();
  },
  name(id) {
    return this.names.get(id) ?? t("partner", { id: id ?? "?" });
  },
};

const openDeal = (certificate, kind) => (certificate.deals || []).find((d) => d.kind === kind) || null;

/** A value a line must not break inside (a date, an amount). */
const whole = (text) => ({ whole: String(text ?? "") });

/** ``t(key, values)`` as nodes: a ``whole(...)`` value becomes a span that does not wrap. */
function sentence(key, values = {}) {
  const line = element("p");
  const text = typeof TEXT[key] === "string" ? TEXT[key] : key;
  let last = 0;
  for (const match of text.matchAll(/\{(\w+)\}/g)) {
    line.append(text.slice(last, match.index));
    const value = values[match[1]];
    if (value && typeof value === "object") line.append(element("span", "whole", value.whole));
    else line.append(value === undefined ? match[0] : String(value));
    last = match.index + match[0].length;
  }
  line.append(text.slice(last));
  return line;
}

/** What the certificate is waiting for, or where it is, in a line or two. */
function statusLines(c) {
  const gift = openDeal(c, "gift");
  const pledge = openDeal(c, "pledge");
  const custody = openDeal(c, "custody");
  const redemption = openDeal(c, "redemption");
  const terms = (deal) => {
    const x = (deal && deal.terms) || {};
    if (!x.amount) return null;
    return sentence("pledge_terms", {
      amount: whole(x.amount),
      currency: x.currency || "",
      due: whole(x.due_date || ""),
    });
  };
  const since = whole(day(c.locked_since));
  const recalled = c.product && c.product.recalled && c.state !== "redeemed" ? [sentence("recalled_no_hand_out")] : [];
  return [...recalled, ...stateLines(c, { gift, pledge, custody, redemption, terms, since })];
}

/** The lines of the certificate's state alone. */
function stateLines(c, { gift, pledge, custody, redemption, terms, since }) {
  switch (c.state) {
    case "gifted":
      return [sentence("gift_waiting", { when: whole(when(gift && gift.expires_at)) })];
    case "pledge_offered":
      return [sentence("pledge_waiting", { name: partners.name(pledge && pledge.counterparty_id) }), terms(pledge)];
    case "pledged": {
      const name = partners.name(c.counterparty_id ?? (pledge && pledge.counterparty_id));
      const line = since.whole ? sentence("pledged_to", { name, since }) : sentence("pledged_to_no_date", { name });
      return [line, terms(pledge)];
    }
    case "deposit_offered":
      return [sentence("deposit_waiting", { name: partners.name(custody && custody.counterparty_id) })];
    case "in_custody": {
      const name = partners.name(c.counterparty_id ?? (custody && custody.counterparty_id));
      if (!since.whole) return [sentence("stored_no_date", { name })];
      return [sentence("stored_since", { name, since, days: whole(c.storage_age_days ?? 0) })];
    }
    case "redemption_requested": {
      const name = partners.name(redemption && redemption.counterparty_id);
      return [sentence(custody ? "redemption_waiting_storage" : "redemption_waiting", { name })];
    }
    case "redeemed":
      return [sentence("redeemed_final")];
    default:
      return [];
  }
}

/** The gift just made on this page: its link (the server shows it once) or its recipient. */
function giftNote(gift) {
  const box = element("div", "gift-note");
  box.dataset.testid = "gift-note";
  if (gift.link) {
    box.append(element("p", "gift-note-title", t("gift_link_title")));
    const row = element("div", "copy-row");
    const field = element("input", "gift-link");
    field.type = "text";
    field.readOnly = true;
    field.value = gift.link;
    field.dataset.testid = "gift-link";
    field.setAttribute("aria-label", t("gift_link_title"));
    const copy = element("button", "secondary copy", t("copy"));
    copy.type = "button";
    row.append(field, copy);
    box.append(row);
    const note = element("p", "muted copy-status", t("gift_link_expires", { when: when(gift.expires_at) }));
    box.append(note);
    copy.addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText(gift.link);
        copy.textContent = t("copied");
      } catch {
        field.focus();
        field.select(); // the visitor copies it by hand
        note.textContent = t("copy_failed");
      }
    });
  } else {
    box.append(element("p", null, t("gift_sent_to", { to: gift.to || "" })));
  }
  return box;
}

function certificateCard(certificate, { note = null, historyOpen = false } = {}) {
  const card = element("li", "certificate-card");
  card.dataset.id = certificate.id;
  card.dataset.state = certificate.state;
  card.dataset.pending = String(Boolean(certificate.pending));
  card.dataset.recalled = String(Boolean(certificate.product && certificate.product.recalled));
  card.dataset.testid = "certificate-item";
  const product = certificate.product || {};
  const head = element("div", "head");
  head.append(element("strong", "name", product.name || product.gtin || certificate.serial));
  const state = element("span", "badge state", label("state", certificate.state));
  state.dataset.state = certificate.state;
  head.append(state);
  if (certificate.pending) head.append(element("span", "badge pending", t("pending")));
  card.append(head);

  const lines = statusLines(certificate).filter(Boolean);
  if (lines.length) {
    const status = element("div", "status");
    status.dataset.testid = "certificate-status";
    status.append(...lines);
    card.append(status);
  }
  const actions = certificate.pending_actions || [];
  if (certificate.pending && actions.length) {
    const names = actions.map((a) => label("action", a)).join(", ");
    const waiting = element("p", "pending-actions", t("pending_actions", { actions: names }));
    waiting.dataset.actions = actions.join(" ");
    card.append(waiting);
  }
  if (note && certificate.state === "gifted") card.append(giftNote(note));
  card.append(element("div", "card-actions")); // filled on My certificates

  card.append(labelled("serial", t("serial"), certificate.serial, true));
  let claimed = `${t("claimed")} ${day(certificate.claimed_at)}`;
  if (certificate.claim_region) claimed += ` · ${t("region")} ${certificate.claim_region}`;
  card.append(element("p", "claimed", claimed));
  const chain = certificate.chain || {};
  if (chain.tx_hash) card.append(labelled("tx", t("tx"), chain.tx_hash, true));

  const history = certificate.history || [];
  // Once the chain has caught up: the latest step written on chain and its transaction.
  const latest = [...history].reverse().find((s) => s.tx_hash);
  if (!certificate.pending && latest && latest.tx_hash !== chain.tx_hash) {
    const line = labelled("step-tx", t("on_chain", { action: label("action", latest.action) }), latest.tx_hash, true);
    line.dataset.testid = "step-tx";
    line.dataset.action = latest.action;
    card.append(line);
  }
  if (history.length) {
    const box = element("details", "history-box");
    box.open = historyOpen;
    box.append(element("summary", "history-title muted", `${t("history")} (${history.length})`));
    const list = element("ol", "history");
    for (const step of history) {
      const item = element("li");
      item.dataset.action = step.action;
      item.append(element("time", null, day(step.at)), " ", label("action", step.action));
      if (step.status) item.append(" ", element("span", "muted", `(${label("status", step.status)})`));
      if (step.tx_hash) item.append(" ", element("code", "hash", step.tx_hash));
      list.append(item);
    }
    box.append(list);
    card.append(box);
  }
  return card;
}

/** The cards of ``list``, each replaced only when its certificate changed (so a form being
 * filled in on one card survives another's refresh), and followed every second while pending. */
function certificateList(list, { decorate = () => {}, changed = () => {} } = {}) {
  const shown = new Map(); // id -> {json, card, certificate}
  const notes = new Map(); // id -> the gift made here (its link lives in this page's memory only)
  const following = new Set();
  let generation = 0;

  function render(certificate) {
    const old = shown.get(certificate.id);
    const historyOpen = Boolean(old && old.card.querySelector("details[open]"));
    const card = certificateCard(certificate, { note: notes.get(certificate.id), historyOpen });
    decorate(card, certificate);
    return card;
  }

  function update(certificate, first = false) {
    if (certificate.state !== "gifted") notes.delete(certificate.id);
    // The gift's link lives in notes; a voucher is an answer, not the certificate.
    const json = JSON.stringify({ ...certificate, gift: undefined, voucher: undefined });
    const old = shown.get(certificate.id);
    if (old && old.json === json && !first) return;
    const card = render(certificate);
    if (old) old.card.replaceWith(card);
    else if (first) list.prepend(card);
    else list.append(card);
    shown.set(certificate.id, { json, card, certificate });
    changed(certificate);
  }

  function put(certificate, { first = false } = {}) {
    update(certificate, first);
    if (certificate.pending) follow(certificate.id);
  }

  function drop(id) {
    const old = shown.get(id);
    if (!old) return;
    old.card.remove();
    shown.delete(id);
    notes.delete(id);
    changed(null);
  }

  /** The whole list as the server has it, newest first. */
  function setAll(certificates) {
    const ids = new Set(certificates.map((c) => c.id));
    for (const id of [...shown.keys()]) if (!ids.has(id)) drop(id);
    for (const c of certificates) put(c);
    const order = certificates.map((c) => shown.get(c.id).card);
    if (order.some((card, i) => list.children[i] !== card)) list.replaceChildren(...order);
  }

  function reset() {
    generation += 1;
    following.clear();
    shown.clear();
    notes.clear();
    list.replaceChildren();
  }

  /** Ask for the certificate every second until its chain writes are confirmed. */
  async function follow(id) {
    if (following.has(id)) return;
    following.add(id);
    const mine = generation;
    try {
      for (let polls = 1; ; polls += 1) {
        await sleep(polls > POLL_LIMIT ? SLOW_POLL_MS : POLL_MS);
        if (mine !== generation) return;
        let certificate;
        try {
          certificate = await api(`/me/certificates/${encodeURIComponent(id)}`, { auth: true });
        } catch (e) {
          if (mine !== generation) return;
          if (e.status === 404) return drop(id); // it left this account (a gift accepted)
          if (e.status === 401) return changed(null, e);
          continue; // no answer or a server hiccup: keep asking
        }
        if (mine !== generation) return;
        update(certificate);
        if (!certificate.pending) return;
      }
    } finally {
      if (mine === generation) following.delete(id);
    }
  }

  return {
    put,
    drop,
    setAll,
    reset,
    notes,
    size: () => shown.size,
    all: () => [...shown.values()].map((s) => s.certificate),
    card: (id) => (shown.get(id) || {}).card || null,
  };
}

// ----------------------------------------------------------------------------- my certificates
/** The buttons each state offers: a form to open, or (cancel, withdraw) the call itself. */
const ACTIONS = {
  active: ["gift", "pledge", "deposit", "redeem"],
  gifted: ["cancel_gift"],
  pledge_offered: ["cancel_offer"],
  deposit_offered: ["cancel_offer"],
  redemption_requested: ["cancel_offer"],
  in_custody: ["withdraw", "redeem_storage"],
};
const FORMS = { gift: "gift", pledge: "pledge", deposit: "deposit", redeem: "redeem", redeem_storage: "redeem" };
/** What hands the bottle out, or takes it out of storage: never offered for a recalled batch. */
const HAND_OUTS = new Set(["redeem", "withdraw", "redeem_storage"]);

/** The actions a certificate offers now: none while pending, no hand-out once recalled. */
function offeredActions(certificate) {
  if (certificate.pending) return [];
  const names = ACTIONS[certificate.state] || [];
  const recalled = Boolean(certificate.product && certificate.product.recalled);
  return recalled ? names.filter((name) => !HAND_OUTS.has(name)) : names;
}

function tomorrow() {
  const d = new Date(Date.now() + 86400000);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

// ----------------------------------------------------------------------------- my points
/** "My points": per brand, the balance, what expires next, the rewards (each spendable once
 * per click: a spend carries an Idempotency-Key that a retry of the same click reuses) and the
 * latest entries. */
function pointsPanel(root) {
  const brands = root.querySelector(".brands");
  const error = root.querySelector(".points-error");
  const done = root.querySelector(".points-note"); // outlives the list, which a spend redraws
  let onSpent = () => {};

  function entryText(entry, brand) {
    let what = label("points_rule", entry.rule);
    if (entry.kind !== "earn") {
      const reward = brand.rewards.find((r) => r.id === entry.rule);
      what = t(`points_kind_${entry.kind}`, { reward: reward ? reward.name : entry.rule ?? "" });
    }
    const line = t("points_entry", { points: entry.points > 0 ? `+${entry.points}` : entry.points, what, date: day(entry.at) });
    return entry.withheld > 0 ? `${line} ${t("points_withheld", { points: entry.withheld })}` : line;
  }

  async function spend(brand, reward, button, note) {
    const key = button.dataset.key || (button.dataset.key = uuid());
    button.disabled = true;
    show(note, "");
    show(done, "");
    try {
      const spent = await api("/me/points/spend", {
        method: "POST",
        auth: true,
        headers: { "Idempotency-Key": key },
        body: { brand_id: brand.brand_id, reward: reward.id },
      });
      delete button.dataset.key;
      show(done, t("points_spent", { reward: reward.name, id: spent.id }));
      onSpent();
    } catch (e) {
      if (e.status !== 0 && e.status < 500) delete button.dataset.key; // refused: a new click is a new spend
      show(note, errorText(e));
    } finally {
      button.disabled = false;
    }
  }

  function brandItem(brand) {
    const item = element("li", "brand");
    item.dataset.brand = String(brand.brand_id);
    item.append(element("h3", "", brand.brand ?? String(brand.brand_id)));
    const total = element("p", "balance", t("points_balance", { points: brand.balance }));
    total.dataset.testid = "points-balance";
    item.append(total);
    // Earned but not spendable yet: waiting for the anti-farming check, or held for the brand's review.
    for (const [kind, points] of [["pending", brand.pending], ["held", brand.held]]) {
      if (!points) continue;
      const waiting = element("p", "muted", t(`points_${kind}`, { points }));
      waiting.dataset.testid = `points-${kind}`;
      item.append(waiting);
    }
    if (brand.expiring.length) {
      const next = brand.expiring[0];
      item.append(element("p", "muted", t("points_expiring", { points: next.points, date: day(next.expires_at) })));
    }
    const note = element("p", "note");
    note.setAttribute("role", "status");
    if (!brand.open) item.append(element("p", "muted", t("points_closed")));
    const rewards = element("ul", "rewards");
    for (const reward of brand.rewards) {
      const row = element("li", "", `${reward.name} `);
      const button = element("button", "secondary", t("points_spend", { points: reward.points }));
      button.type = "button";
      button.disabled = reward.points > brand.balance;
      button.addEventListener("click", () => spend(brand, reward, button, note));
      row.append(button);
      rewards.append(row);
    }
    item.append(rewards, note);
    const latest = element("ul", "entries");
    for (const entry of brand.latest) latest.append(element("li", "", entryText(entry, brand)));
    item.append(latest);
    return item;
  }

  return {
    set onSpent(fn) {
      onSpent = fn;
    },
    show(points) {
      show(error, "");
      brands.replaceChildren(...points.brands.map(brandItem));
      root.hidden = points.brands.length === 0;
    },
    fail(e) {
      show(error, errorText(e));
    },
    reset() {
      brands.replaceChildren();
      root.hidden = true;
    },
  };
}

async function loadPoints(panel) {
  try {
    panel.show(await api("/me/points", { auth: true }));
  } catch (e) {
    panel.fail(e);
  }
}

function initCertificatesPage() {
  const list = document.querySelector(".certificates");
  const empty = document.querySelector(".empty");
  const error = document.querySelector(".list-error");
  const incoming = document.querySelector(".incoming");
  const giftList = incoming.querySelector(".gifts");
  const attempts = new Map(); // certificate or gift id -> {signature, key}: a retry reuses the key
  let loading = 0; // a newer load supersedes an older one still in flight
  let timer = null;
  let giftsJson = "";
  let gifts = [];
  const points = pointsPanel(document.querySelector(".points"));
  points.onSpent = () => loadPoints(points);

  const certificates = certificateList(list, {
    decorate: addActions,
    changed: (certificate, failure) => {
      if (failure) {
        show(error, errorText(failure));
        account.render();
        return;
      }
      empty.hidden = certificates.size() > 0 || !session.get();
      schedule(); // a certificate that now waits for someone else is asked about again
    },
  });

  /** POST ``path`` with an Idempotency-Key; the answer replaces the card. */
  async function act(id, path, body, before = () => {}) {
    const errorOf = () => certificates.card(id)?.querySelector(".action-error");
    show(errorOf(), "");
    const signature = JSON.stringify([path, body ?? null]);
    const earlier = attempts.get(id);
    const key = earlier && earlier.signature === signature ? earlier.key : uuid();
    attempts.set(id, { signature, key });
    const card = certificates.card(id);
    if (card) busy(card, true);
    try {
      const answer = await api(path, { method: "POST", body, auth: true, headers: { "Idempotency-Key": key } });
      attempts.delete(id);
      before(answer);
      certificates.put(answer);
      const replaced = certificates.card(id);
      if (replaced) busy(replaced, false);
      // Self-custody: nothing changed yet; the step waits for the owner's own signature.
      if (answer.voucher) show(errorOf(), t("voucher_needed"));
    } catch (e) {
      if (e.status !== 0) attempts.delete(id); // answered: the next try is a new request
      const current = certificates.card(id);
      if (current) busy(current, false);
      show(errorOf(), errorText(e));
      if (e.status === 401) account.render();
    }
  }

  function openForm(card, certificate, name, button) {
    const panel = card.querySelector(".action-panel");
    const wasOpen = panel.dataset.open === name;
    panel.replaceChildren();
    delete panel.dataset.open;
    for (const other of card.querySelectorAll(".actions button")) other.setAttribute("aria-expanded", "false");
    show(card.querySelector(".action-error"), "");
    if (wasOpen) return; // the button closes its own form
    const template = document.getElementById(`form-${FORMS[name]}`);
    const form = template.content.firstElementChild.cloneNode(true);
    for (const select of form.querySelectorAll("select[data-partners]")) {
      const choices = partners.byKind[select.dataset.partners] || [];
      select.replaceChildren(new Option(t("choose"), ""), ...choices.map((p) => new Option(p.name, String(p.id))));
      if (choices.length === 1) select.value = String(choices[0].id);
      if (!choices.length) select.after(element("span", "hint", t("no_partners")));
    }
    const id = certificate.id;
    const base = `/me/certificates/${encodeURIComponent(id)}`;
    const value = (field) => (form.elements[field] ? form.elements[field].value.trim() : "");
    const number = (field) => (value(field) ? Number(value(field)) : undefined);
    if (name === "pledge") form.elements.due_date.min = tomorrow();
    if (name === "redeem_storage") {
      // From storage the custodian hands the bottle out: no store to choose, picked up there.
      form.elements.method.closest("label").hidden = true;
      form.elements.store_id.closest("label").hidden = true;
    }
    if (name === "redeem") {
      const address = form.querySelector(".address");
      form.elements.method.addEventListener("change", () => {
        address.hidden = form.elements.method.value !== "delivery";
      });
    }
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      let body;
      let path = `${base}/${name}`;
      let before;
      if (name === "gift") {
        const toMember = !event.submitter || event.submitter.value !== "link";
        if (toMember && !value("to")) {
          show(card.querySelector(".action-error"), t("gift_to_missing"));
          return;
        }
        body = { expires_in_days: number("expires_in_days") ?? 7 };
        if (toMember) body.to = value("to");
        if (value("message")) body.message = value("message");
        before = (answer) => {
          if (answer.gift) certificates.notes.set(id, answer.gift);
        };
      } else if (name === "pledge") {
        body = {
          pledgee_id: number("pledgee_id"),
          amount: value("amount"),
          currency: value("currency").toUpperCase(),
          due_date: value("due_date"),
        };
        if (value("terms")) body.terms = value("terms");
      } else if (name === "deposit") {
        body = { custodian_id: number("custodian_id") };
      } else {
        path = `${base}/redemption`;
        body = { method: name === "redeem_storage" ? "pickup" : value("method") };
        if (name === "redeem") {
          body.store_id = number("store_id");
          if (body.method === "delivery") body.address = value("address");
        }
      }
      act(id, path, body, before);
    });
    panel.append(form);
    panel.dataset.open = name;
    button.setAttribute("aria-expanded", "true");
  }

  /** The buttons the certificate's state allows (none while a chain write is pending). */
  function addActions(card, certificate) {
    const slot = card.querySelector(".card-actions");
    const names = offeredActions(certificate);
    if (names.length) {
      const bar = element("div", "actions");
      bar.dataset.testid = "actions";
      const base = `/me/certificates/${encodeURIComponent(certificate.id)}`;
      for (const name of names) {
        const secondary = name === "cancel_gift" || name === "cancel_offer";
        const button = element("button", secondary ? "secondary" : "primary", t(`do_${name}`));
        button.type = "button";
        button.dataset.action = name;
        if (name === "cancel_gift") button.addEventListener("click", () => act(certificate.id, `${base}/gift/cancel`));
        else if (name === "withdraw") button.addEventListener("click", () => act(certificate.id, `${base}/withdraw`));
        else if (name === "cancel_offer") button.addEventListener("click", () => act(certificate.id, `${base}/offer/cancel`));
        else {
          button.setAttribute("aria-expanded", "false");
          button.addEventListener("click", () => openForm(card, certificate, name, button));
        }
        bar.append(button);
      }
      slot.append(bar, element("div", "action-panel"));
    }
    const failure = element("p", "error action-error");
    failure.dataset.testid = "action-error";
    failure.setAttribute("role", "alert");
    failure.hidden = true;
    slot.append(failure);
  }

  // --------------------------------------------------------------------------- incoming gifts
  function giftItem(gift) {
    const item = element("li", "gift-item");
    item.dataset.id = gift.id;
    item.dataset.ready = String(Boolean(gift.ready));
    item.dataset.testid = "incoming-gift";
    item.append(element("strong", "name", gift.product || gift.serial));
    item.append(labelled("serial", t("serial"), gift.serial, true));
    const message = gift.terms && gift.terms.message;
    if (message) item.append(element("p", "message", `“${message}”`));
    item.append(element("p", "muted", t("gift_expires", { when: when(gift.expires_at) })));
    const failure = element("p", "error");
    failure.setAttribute("role", "alert");
    failure.hidden = true;
    if (gift.ready) {
      const button = element("button", "primary", t("accept"));
      button.type = "button";
      button.addEventListener("click", () => accept(gift.id, item, failure));
      item.append(button);
    } else {
      item.append(element("span", "badge pending arriving", t("gift_arriving")));
    }
    item.append(failure);
    return item;
  }

  function showGifts(gifts) {
    const json = JSON.stringify(gifts);
    if (json === giftsJson) return;
    giftsJson = json;
    giftList.replaceChildren(...gifts.map(giftItem));
    incoming.hidden = gifts.length === 0;
  }

  async function accept(giftId, item, failure) {
    show(failure, "");
    const earlier = attempts.get(giftId);
    const key = earlier ? earlier.key : uuid();
    attempts.set(giftId, { signature: giftId, key });
    busy(item, true);
    try {
      const certificate = await api("/gifts/accept", {
        method: "POST",
        body: { gift_id: giftId },
        auth: true,
        headers: { "Idempotency-Key": key },
      });
      attempts.delete(giftId);
      item.remove();
      incoming.hidden = giftList.children.length === 0;
      certificates.put(certificate, { first: true });
      load();
    } catch (e) {
      if (e.status !== 0) attempts.delete(giftId);
      busy(item, false);
      show(failure, errorText(e));
      if (e.status === 401) account.render();
    }
  }

  // --------------------------------------------------------------------------- loading
  function schedule() {
    clearTimeout(timer);
    if (!session.get() || document.hidden) return; // asked again when the page shows
    let wait = null;
    if (gifts.some((g) => !g.ready)) wait = POLL_MS; // "arriving…" until on chain
    // Someone else moves next: a pledgee, a custodian, a gift's recipient or its giver.
    else if (gifts.length || certificates.all().some((c) => WAITING.has(c.state))) wait = WAIT_POLL_MS;
    if (wait !== null) timer = setTimeout(load, wait);
  }

  async function load() {
    const mine = ++loading;
    clearTimeout(timer);
    try {
      await partners.load();
      const [mineNow, incomingNow] = await Promise.all([
        api("/me/certificates", { auth: true }),
        api("/me/gifts", { auth: true }),
      ]);
      if (mine !== loading) return;
      show(error, "");
      gifts = incomingNow;
      certificates.setAll(mineNow);
      showGifts(gifts);
      empty.hidden = mineNow.length > 0;
      schedule();
      loadPoints(points);
    } catch (e) {
      if (mine !== loading) return;
      show(error, errorText(e));
      if (e.status === 401) account.render();
      else if (e.status === 0 || e.status >= 500) timer = setTimeout(load, SLOW_POLL_MS);
    }
  }

  const account = signIn(document.querySelector(".account"), (current) => {
    if (current) {
      load();
    } else {
      loading += 1;
      clearTimeout(timer);
      certificates.reset();
      giftsJson = "";
      gifts = [];
      giftList.replaceChildren();
      incoming.hidden = true;
      empty.hidden = true;
      points.reset();
    }
  });

  document.addEventListener("visibilitychange", () => {
    if (!document.hidden && session.get()) load();
  });
}

// ----------------------------------------------------------------------------- gift link
/** ``/gifts/accept#<secret>``: sign in or up, accept, then follow the certificate on chain. */
function initGiftPage() {
  const panel = document.getElementById("gift");
  const form = panel.querySelector(".accept-form");
  const status = panel.querySelector(".gift-status");
  const error = panel.querySelector(".gift-error");
  let secret = "";
  try {
    secret = decodeURIComponent(location.hash.slice(1)).trim();
  } catch {
    secret = "";
  }
  if (!secret) {
    show(error, t("link_incomplete"));
    return;
  }
  // The language switch is a query-only link, which would drop the fragment and its secret.
  const other = document.querySelector("a.lang");
  if (other) other.href = `${other.getAttribute("href")}${location.hash}`;

  let accepted = false;
  let key = null; // kept across retries of the same acceptance
  const certificates = certificateList(panel.querySelector(".certificates"), {
    changed: (certificate, failure) => {
      if (failure) {
        show(error, errorText(failure));
        return;
      }
      if (!certificate) return;
      status.dataset.state = certificate.pending ? "pending" : certificate.state;
      show(status, certificate.pending ? t("gift_accepting") : t("gift_accepted"));
    },
  });
  const account = signIn(panel, (current) => {
    form.hidden = !current || accepted;
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    show(error, "");
    key = key || uuid();
    busy(form, true);
    try {
      for (let tries = 1; ; tries += 1) {
        try {
          const certificate = await api("/gifts/accept", {
            method: "POST",
            body: { secret },
            auth: true,
            headers: { "Idempotency-Key": key },
          });
          accepted = true;
          key = null;
          form.hidden = true;
          certificates.put(certificate);
          return;
        } catch (e) {
          // The gift is still being written on chain: it arrives in a moment.
          if (e.code !== "previous_step_pending" || tries >= POLL_LIMIT) throw e;
          status.dataset.state = "pending";
          show(status, t("gift_arriving"));
          await sleep(POLL_MS);
        }
      }
    } catch (e) {
      if (e.status !== 0) key = null;
      show(status, "");
      show(error, errorText(e));
      if (e.status === 401) account.render();
      // Used, expired, not found: trying again cannot help (a network error or an outage can).
      if (e.status === 404 || e.status === 422) form.hidden = true;
    } finally {
      busy(form, false);
    }
  });
}

// ----------------------------------------------------------------------------- start
if (page.page === "scan") initScanPage();
else if (page.page === "certificates") initCertificatesPage();
else if (page.page === "gift") initGiftPage();
document.documentElement.dataset.ready = "true";
