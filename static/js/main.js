// Entry point: sign-in (a pasted token, or a `#token=...` link from ./scripts/dev, kept in
// localStorage), panel switching, and the 401 path back to the sign-in form. A link never
// replaces a different stored token without asking: a link from someone else would otherwise
// silently move this browser into their account.
import { api, getToken, onUnauthorized, setToken, tokenSubject, ApiError } from "./api.js";
import { $, announce, showError } from "./dom.js";
import { cleanToken, readTokenLink } from "./token-link.js";
import { initChat, onTabChange, resetChat, startChat } from "./chat.js";
import { initSearch } from "./search.js";
import { initRollouts } from "./rollout.js";
import { initStatus, refreshStatus } from "./status.js";
import { initWorkspaces, onWorkspacesShown, resetWorkspaces, startWorkspaces } from "./workspaces.js";

const PANEL_KEY = "edge-assistant.panel";
const PANELS = ["chat", "search", "workspaces", "rollouts", "status"];

/** "alice", or a neutral name when the token carries no readable subject. */
const accountName = (token) => tokenSubject(token) ?? "another account";

/** Shows (or with "" hides) the notice under the header about the sign-in link. */
function showLinkNotice(message) {
  $("link-notice-text").textContent = message;
  $("link-notice").hidden = !message;
}

/**
 * `#token=...` in the address: always dropped from the address and history (it is a credential).
 * No stored token: the link's token is stored. The same token: nothing to do. A different one:
 * returns it, for the caller to ask about; a malformed one: a notice, and the app starts as if
 * there were no link.
 */
function takeTokenFromHash() {
  const link = readTokenLink(location.hash);
  if (link.kind === "none") return null;
  try {
    history.replaceState(null, "", location.pathname + location.search);
  } catch { /* the fragment just stays */ }
  if (link.kind === "malformed") {
    const current = getToken() ? `You are still signed in as ${accountName(getToken())}.` : "Paste a token to sign in.";
    showLinkNotice(`The sign-in link was ignored: its token cannot be read (${link.reason}). ${current}`);
    return null;
  }
  const stored = getToken();
  if (!stored) {
    setToken(link.token);
    return null;
  }
  return stored === link.token ? null : link.token;
}

/** Asks whether to replace the stored token with the link's `token`; switches only on "yes". */
function askToSwitch(token) {
  const current = accountName(getToken());
  const next = accountName(token);
  $("token-switch-question").textContent = current === next
    ? `This link holds a different token for ${next}. Use it instead of the one this browser has?`
    : `This link signs in as ${next}. You are signed in as ${current}. Switch accounts?`;
  $("token-switch-yes").textContent = current === next ? "Use the link's token" : `Switch to ${next}`;
  $("token-switch-no").textContent = current === next ? "Keep the current token" : `Keep ${current}`;
  const bar = $("token-switch");
  const close = () => {
    bar.hidden = true;
    $("token-switch-yes").removeEventListener("click", accept);
    $("token-switch-no").removeEventListener("click", decline);
    bar.removeEventListener("keydown", onKey);
  };
  async function accept() {
    close();
    // The old account's tab list may still be loading; let it land before it is cleared.
    await chatStarting.catch(() => {});
    setToken(token);
    resetChat();
    resetWorkspaces();
    announce(`Switched to ${next}.`);
    await signedIn();
  }
  function decline() {
    close();
    announce(`Kept ${current}; the link's token was not stored.`);
  }
  function onKey(event) {
    if (event.key === "Escape") decline();
  }
  $("token-switch-yes").addEventListener("click", accept);
  $("token-switch-no").addEventListener("click", decline);
  bar.addEventListener("keydown", onKey);
  bar.hidden = false;
  // Declining is the safe answer, so it has the focus.
  $("token-switch-no").focus();
}

let currentPanel = null;
let search = null;
/** The running startChat(), so a switch of account waits for the old account's loads to land. */
let chatStarting = Promise.resolve();
/** The workspace list has been asked for since sign-in (showing the panel refreshes it). */
let workspacesStarted = false;

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
  if (name === "workspaces" && workspacesStarted) onWorkspacesShown();
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
  chatStarting = startChat();
  try {
    await chatStarting;
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 401)) announce(err.message, { bad: true });
  }
  // After the tab list: asked for together, the workspace list slowed the first answer enough for
  // a tab created meanwhile to be overwritten by the older list. The chat's workspace selector
  // needs this list too; a failure only leaves it empty.
  workspacesStarted = true;
  await startWorkspaces().catch((err) => {
    if (!(err instanceof ApiError && err.status === 401)) announce(`Could not load the workspaces: ${err.message}`, { bad: true });
  });
}

function signOut(message) {
  setToken("");
  resetChat();
  resetWorkspaces();
  workspacesStarted = false;
  showSignIn(message);
}

function init() {
  initChat();
  search = initSearch({ showPanel });
  initWorkspaces({ showPanel });
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

  $("link-notice-dismiss").addEventListener("click", () => showLinkNotice(""));

  let pendingSwitch = null;
  try {
    pendingSwitch = takeTokenFromHash();
  } catch (err) {
    // Whatever the address holds, the app still starts.
    showLinkNotice(`The sign-in link was ignored: ${err?.message ?? err}`);
  }
  if (getToken()) signedIn();
  else showSignIn("");
  if (pendingSwitch) askToSwitch(pendingSwitch);
}

init();
