// The stream page's small tools: making elements, telling people (polite announcements, toasts, an undo bar)
// and asking the server (JSON both ways, with the page's CSRF token). Used by stream*.js (window.HubsStreamUI).
(function () {
  "use strict";
  var announcer = document.getElementById("announcer");
  var undoAction = null;
  var undoTimer = null;

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") node.textContent = attrs[k];
      else if (k.slice(0, 2) === "on") node.addEventListener(k.slice(2), attrs[k]);
      else if (attrs[k] !== null && attrs[k] !== undefined) node.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) { if (c) node.appendChild(typeof c === "string" ? document.createTextNode(c) : c); });
    return node;
  }

  function setText(node, text) { if (node.textContent !== text) node.textContent = text; }

  var pending = [];
  var announceTimer = null;
  var announced = [];

  function announce(text) {
    if (!text || pending.indexOf(text) >= 0) return;
    pending.push(text);
    clearTimeout(announceTimer);
    announceTimer = setTimeout(function () {
      var said = pending.join(" ");
      pending = [];
      announced.push(said);
      announcer.textContent = "";
      setTimeout(function () { announcer.textContent = said; }, 50);
    }, 400);
  }

  function toast(message, kind) {
    var t = document.getElementById("toast");
    t.textContent = message;
    t.className = "toast show " + (kind || "");
    clearTimeout(t._t);
    t._t = setTimeout(function () { t.className = "toast"; t.textContent = ""; }, 5000);
  }

  // An action that can be taken back: its words and an Undo button, for 8 seconds (the button is announced).
  function offerUndo(text, undo) {
    var bar = document.getElementById("undo");
    document.getElementById("undo-text").textContent = text;
    undoAction = undo;
    bar.hidden = false;
    announce(text + " Undo is available.");
    clearTimeout(undoTimer);
    undoTimer = setTimeout(function () {
      if (bar.contains(document.activeElement)) return;  // someone is on it
      bar.hidden = true; undoAction = null;
    }, 8000);
  }

  document.getElementById("undo-button").addEventListener("click", function () {
    var undo = undoAction;
    undoAction = null;
    document.getElementById("undo").hidden = true;
    if (undo) undo();
  });

  var csrf = null;

  function csrfToken() {
    if (csrf) return Promise.resolve(csrf);
    var meta = document.querySelector('meta[name="csrf-token"]');
    if (meta) { csrf = meta.getAttribute("content"); return Promise.resolve(csrf); }
    if (window.hubsMe && window.hubsMe.csrf) { csrf = window.hubsMe.csrf; return Promise.resolve(csrf); }
    return fetch("/api/me", { credentials: "same-origin" }).then(function (r) { return r.json(); })
      .then(function (me) { csrf = me.csrf || null; return csrf; });
  }

  // JSON both ways; resolves {status, ...body}; a network failure resolves {status: 0, error}.
  function api(method, url, body, retried) {
    var ready = method === "GET" ? Promise.resolve(null) : csrfToken();
    return ready.then(function (token) {
      var headers = { "Accept": "application/json" };
      if (body !== undefined) headers["Content-Type"] = "application/json";
      if (token) headers["X-CSRF-Token"] = token;
      return fetch(url, { method: method, headers: headers, credentials: "same-origin",
                          body: body === undefined ? undefined : JSON.stringify(body) });
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (data) {
        data.status = r.status;
        if (r.status === 403 && !retried && method !== "GET" && /CSRF/.test(data.error || "")) {
          csrf = null;  // signed in again in another tab: a new token
          if (window.hubsMe) window.hubsMe.csrf = null;
          var meta = document.querySelector('meta[name="csrf-token"]');
          if (meta) meta.remove();
          return api(method, url, body, true);
        }
        return data;
      });
    }, function () {
      return { status: 0, error: "Hubs cannot be reached; check your connection and try again." };
    });
  }

  function failed(r, what) {
    var why = r.error || ("The server answered " + r.status + ".");
    toast(what + " did not work: " + why, "bad");
    announce(what + " did not work.");
  }

  window.HubsStreamUI = { el: el, setText: setText, announce: announce, announced: announced, toast: toast,
                          offerUndo: offerUndo, api: api, failed: failed };
})();
