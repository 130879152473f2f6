// Entry point: sign-in (a pasted token, or a `#token=...` link from ./scripts/dev, kept in
// localStorage), panel switching, and the 401 path back to the sign-in form.
import { api, getToken, onUnauthorized, setToken, tokenSubject, ApiError } from "./api.js";
import { $, announce, showError } from "./dom.js";
import { initChat, onTabChange, resetChat, startChat } from "./chat.js";
import { initSearch } from "./search.js";
import { initRollouts } from "./rollout.js";
import { initStatus, refreshStatus } from "./status.js";

const PANEL_KEY = "edge-assistant.panel";
const PANELS = ["chat", "search", "rollouts", "status"];

/** Accepts a raw token, `Bearer <token>` or the `TOKEN=<token>` line scripts/dev prints. */
export function cleanToken(text) {
  return text.trim().replace(/^TOKEN=/, "").replace(/^Bearer\s+/i, "").replace(/\s+/g, "");
}

/** `#token=...` in the address: store it and drop it from the address and history. */
function takeTokenFromHash() {
  const match = /^#token=([^&]+)/.exec(location.hash);
  if (!match) return;
  setToken(cleanToken(decodeURIComponent(match[1])));
  history.replaceState(null, "", location.pathname + location.search);
}

let currentPanel = null;
let search = null;

function showPanel(name) {
  if (!PANELS.includes(name)) name = "chat";
  currentPanel = name;
  try { sessionStorage.setItem(PANEL_KEY, name); } catch { /* storage disabled */ }
  for (const panel of PANELS) {
    $(`panel-${panel}`).hidden = panel !== name;
    const button = document.querySelector(`.panel-nav button[data-panel="${panel}"]`);
    if (panel === name) button.setAttribute("aria-current", "page");
    else button.removeAttribute("aria-current");
  }
  if (name === "status") refreshStatus().catch(() => {});
  if (name === "search") search?.syncTabOption();
}

function showSignIn(message) {
  for (const panel of PANELS) $(`panel-${panel}`).hidden = true;
  document.querySelector(".panel-nav").hidden = true;
  $("sign-out").hidden = true;
  $("account-user").textContent = "";
  $("sign-in").hidden = false;
  showError($("sign-in-error"), message ?? "");
  $("token-input").focus();
}

async function signedIn() {
  $("sign-in").hidden = true;
  document.querySelector(".panel-nav").hidden = false;
  $("sign-out").hidden = false;
  const sub = tokenSubject(getToken());
  $("account-user").textContent = sub ? `Signed in as ${sub}` : "Signed in";
  let saved = "chat";
  try { saved = sessionStorage.getItem(PANEL_KEY) ?? "chat"; } catch { /* storage disabled */ }
  showPanel(saved);
  try {
    await startChat();
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 401)) announce(err.message, { bad: true });
  }
}

function signOut(message) {
  setToken("");
  resetChat();
  showSignIn(message);
}

function init() {
  initChat();
  search = initSearch({ showPanel });
  initRollouts();
  initStatus();
  onTabChange(() => {
    search?.syncTabOption();
    if (currentPanel === "status") refreshStatus().catch(() => {});
  });

  onUnauthorized((err) => {
    signOut(`The server did not accept your token (401 ${err.code}): ${err.message} ` +
      "Paste a fresh token, e.g. from ./scripts/token USER.");
    announce("Signed out: the token was rejected.", { bad: true });
  });

  for (const button of document.querySelectorAll(".panel-nav button")) {
    button.addEventListener("click", () => showPanel(button.dataset.panel));
  }
  $("sign-out").addEventListener("click", () => {
    signOut("");
    announce("Signed out.");
  });
  $("sign-in-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const token = cleanToken($("token-input").value);
    if (!token) return;
    setToken(token);
    $("token-input").value = "";
    showError($("sign-in-error"), "");
    try {
      await api("GET", "/api/tabs?limit=1");
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 401)) showSignIn(`Could not check the token: ${err.message}`);
      return;
    }
    announce("Signed in.");
    await signedIn();
  });

  takeTokenFromHash();
  if (getToken()) signedIn();
  else showSignIn("");
}

init();
