// The header's unread count, on every page of a signed-in person.
// The page keeps ONE EventSource: a hub page's /<hub>/events carries `stream-count` (hubs.js passes it on as a
// "hubs:stream-count" event), the stream page's /stream/events too (stream.js); any other page opens
// /stream/events?only=counts here, once /api/me (editor.js, "hubs:me") says someone is signed in.
// Screen readers hear a rise of the count, at most once a minute ("3 new items in your stream"), never a fall
// (a fall is the person's own doing, said where they did it).
(function () {
  "use strict";
  var badge = document.getElementById("stream-count");
  if (!badge) return;
  var said = document.getElementById("count-announcer");
  var lib = window.HubsStream;
  // A hub page (hubs.js) and the stream page (stream.js) pass on their own stream's counts; others open one.
  var ownStream = !document.getElementById("hub") && !document.getElementById("stream");
  var last = null;         // the unread count shown
  var risen = 0;           // rise not yet said
  var sayTimer = null;
  var lastSaid = 0;
  var source = null;
  var retry = 2000;
  var signedIn = false;

  function place() {
    // Beside the account's name (editor.js draws it after this script ran), unless it has the focus.
    var account = document.getElementById("account");
    if (account && badge.nextElementSibling !== account && document.activeElement !== badge) {
      account.parentNode.insertBefore(badge, account);
    }
  }

  function sayRise() {
    sayTimer = null;
    if (!risen || !said) return;
    var text = risen === 1 ? "1 new item in your stream." : risen + " new items in your stream.";
    risen = 0;
    lastSaid = Date.now();
    said.textContent = "";
    setTimeout(function () { said.textContent = text; }, 50);
  }

  // counts = {"unread": n, "needs_me": n}; quiet: the page says what changed itself (the stream page).
  function set(counts, quiet) {
    if (!counts || typeof counts.unread !== "number") return;
    var label = lib.countLabel(counts);
    badge.querySelector(".stream-count-n").textContent = label.shown;
    badge.querySelector(".stream-count-said").textContent = label.said;
    badge.setAttribute("data-unread", String(counts.unread));
    badge.title = label.said + (typeof counts.needs_me === "number" ? ", " + counts.needs_me + " need you" : "");
    if (badge.hidden) { badge.hidden = false; place(); }
    if (last !== null && counts.unread > last && !quiet) {
      risen += counts.unread - last;
      if (!sayTimer) sayTimer = setTimeout(sayRise, Math.max(1500, 60000 - (Date.now() - lastSaid)));
    }
    last = counts.unread;
    document.body.setAttribute("data-unread", String(counts.unread));
  }

  function hide() {
    badge.hidden = true;
    if (source) { source.close(); source = null; }
  }

  function connect() {
    var stream = source = new EventSource("/stream/events?only=counts");
    stream.addEventListener("open", function () { retry = 2000; });
    stream.addEventListener("stream-count", function (e) {
      if (stream !== source) return;
      try { set(JSON.parse(e.data)); } catch (err) { console.error("bad stream-count event", err); }
    });
    stream.addEventListener("error", function () {
      if (stream !== source || stream.readyState !== EventSource.CLOSED) return;  // the browser retries itself
      // Refused (signed out in another tab, or a hub that has no stream yet): try again later, slower each time.
      source = null;
      setTimeout(function () { if (signedIn && !source) connect(); }, retry);
      retry = Math.min(retry * 2, 120000);
    });
  }

  document.addEventListener("hubs:stream-count", function (e) { set(e.detail, e.detail && e.detail.quiet); });
  document.addEventListener("hubs:me", function (e) {
    var me = e.detail || {};
    signedIn = !!me.username && me.via === "session";
    if (!signedIn) { hide(); return; }
    place();
    if (ownStream && !source) connect();
  });
  window.hubsCount = { set: set, last: function () { return last; } };
})();
