// The Follow button in a hub's header: a signed-in visitor follows the person of a personal hub, or a team hub,
// into their stream (POST /api/follows, the same API as the stream's cards). The page is the same for everyone:
// who is here comes from /api/me (editor.js says it with "hubs:me"), whether they follow from GET /api/follows.
// A real toggle button (aria-pressed), busy while its request runs (aria-disabled, so the focus stays on it), an
// error said beside it; an anonymous visitor gets "Log in to follow" when logging in is configured.
(function () {
  "use strict";
  var box = document.getElementById("hub-follow");
  var lib = window.HubsHubLib;
  if (!box || !lib) return;
  var target = { kind: box.getAttribute("data-kind"), name: box.getAttribute("data-name") };
  var error = document.getElementById("hub-follow-error");
  var me = null;
  var shownFor;           // the username the control was drawn for (undefined: not yet)
  var following = null;   // true/false once known
  var pending = false;
  var button = null;
  var said = [];          // sentences said (for tests)

  function say(text) {
    said.push(text);
    if (window.hubsPage && window.hubsPage.announce) window.hubsPage.announce(text);
  }

  // The error's live region is in the page from the start (hub.html): it is read when its text changes.
  function showError(text) {
    if (error.textContent !== (text || "")) error.textContent = text || "";
  }

  // editor.js's request helper (CSRF header, one retry with a fresh token after a sign-in in another tab),
  // answered as { status, body }; a request that got no answer is status 0.
  function api(method, url, body) {
    return window.hubsApi(method, url, body)
      .then(function (data) { return { status: data.status, body: data }; })
      .catch(function () { return { status: 0, body: {} }; });
  }

  function clear() {
    while (box.firstChild !== error) box.removeChild(box.firstChild);
  }

  function drawLogin() {
    clear();
    var link = document.createElement("a");
    link.className = "follow-login";
    link.href = "/login?next=" + encodeURIComponent(location.pathname);
    link.textContent = "Log in to follow " + target.name;
    box.insertBefore(link, error);
    box.hidden = false;
  }

  function drawButton() {
    clear();
    button = document.createElement("button");
    button.type = "button";
    button.id = "follow-toggle";
    button.className = "toggle follow-toggle";
    button.setAttribute("aria-describedby", error.id);
    button.innerHTML = '<span class="spinner small-spinner" aria-hidden="true" hidden></span>' +
      '<span class="follow-text"></span><span class="follow-check" aria-hidden="true"></span>' +
      '<span class="visually-hidden follow-whom"></span>';
    button.querySelector(".follow-whom").textContent = " " + target.name;
    button.addEventListener("click", toggle);
    box.insertBefore(button, error);
    box.hidden = false;
    update();
  }

  // The button shows the state: "Follow" / "Following ✓" (its name says whom: "Following designteam").
  function update() {
    if (!button) return;
    var on = following === true;
    button.setAttribute("aria-pressed", String(on));
    button.classList.toggle("on", on);
    button.querySelector(".follow-text").textContent = following === null ? "Follow" : on ? "Following" : "Follow";
    button.querySelector(".follow-check").textContent = on ? " \u2713" : "";
    button.querySelector(".spinner").hidden = !pending;
    if (pending) button.setAttribute("aria-disabled", "true");
    else button.removeAttribute("aria-disabled");
    if (pending) button.setAttribute("aria-busy", "true"); else button.removeAttribute("aria-busy");
    box.setAttribute("data-state", following === null ? "unknown" : on ? "following" : "not-following");
  }

  function loadState() {
    pending = true;
    update();
    return api("GET", "/api/follows").then(function (r) {
      pending = false;
      if (r.status === 200) {
        following = lib.isFollowing(r.body, target);
        showError("");
      } else {
        following = null;
        showError("Whether you follow " + target.name + " could not be read (" +
                  (r.body.error || (r.status ? "the server answered " + r.status : "Hubs cannot be reached")) +
                  "). Press the button to try again.");
      }
      update();
    });
  }

  function toggle() {
    if (pending) return;
    if (following === null) { loadState(); return; }
    var on = !following;
    pending = true;
    showError("");
    update();
    api("POST", "/api/follows", { kind: target.kind, name: target.name, follow: on }).then(function (r) {
      pending = false;
      if (r.status === 200) {
        following = r.body.follow === true;
        say(lib.followSaid(target, following));
      } else {
        showError((on ? "Could not follow " : "Could not unfollow ") + target.name + ": " +
                  (r.body.error || (r.status ? "the server answered " + r.status + "." : "Hubs cannot be reached.")));
      }
      update();
    });
  }

  document.addEventListener("hubs:me", function (e) {
    me = e.detail || {};
    var choice = lib.followChoice(me, target);
    var key = choice + ":" + (me.username || "");
    if (key === shownFor) return;  // the same visitor again (every action reloads /api/me): keep the control
    shownFor = key;
    button = null;
    following = null;
    showError("");
    if (choice === "button") { drawButton(); loadState(); }
    else if (choice === "login") drawLogin();
    else { clear(); box.hidden = true; }
  });

  window.hubsFollow = { said: said, state: function () { return following; } };
})();
