// The hub page's own decisions, as plain functions of plain values (no DOM, no clock, no network): who gets
// which Follow control, what the Activity widget's search box asks /api/search and what it says back, and
// how a highlight the API gives becomes text and marks. follow.js and feed-search.js draw with them;
// tests/test_hub_js.py runs them in node from tables of cases.
(function (root) {
  "use strict";

  var MAX_QUERY = 200;  // what /api/search accepts (hubs/search/query.py MAX_QUERY)
  var WORDY = /[0-9A-Za-z\u00C0-\u024F\u0370-\u03FF\u0400-\u04FF\u0590-\u06FF\u3040-\u30FF\u4E00-\u9FFF]/;

  // ------------------------------------------------------------------ follow

  // What the header of a hub shows a visitor: "button" (follow/unfollow), "login" (a "Log in to follow" link)
  // or "none". `me` is GET /api/me's answer; `target` = {kind: "person"|"hub", name}. A person does not follow
  // themselves; a visitor signed in without a session (an API token) has no CSRF token to write with.
  function followChoice(me, target) {
    if (!target || !target.name || (target.kind !== "person" && target.kind !== "hub")) return "none";
    if (!me || !me.username) return me && me.login ? "login" : "none";
    if (me.via !== "session") return "none";
    if (target.kind === "person" && target.name === me.username) return "none";
    return "button";
  }

  // Whether GET /api/follows' answer holds `target`.
  function isFollowing(answer, target) {
    return ((answer && answer.follows) || []).some(function (f) {
      return f.kind === target.kind && f.name === target.name;
    });
  }

  // What is said once a follow changed (`on`: now followed).
  function followSaid(target, on) {
    if (target.kind === "person") {
      return on ? "You follow " + target.name + ": their activity comes to your stream."
                : "You no longer follow " + target.name + ".";
    }
    return on ? "You follow the " + target.name + " hub: its people's activity comes to your stream."
              : "You no longer follow the " + target.name + " hub.";
  }

  // ------------------------------------------------------------------ the Activity widget's search

  // The text to search for, or "" when there is nothing to search yet (the live feed shows): the box's value
  // trimmed; a text with no letter or digit (a lone quote, a dash) asks nothing.
  function searchText(value) {
    var text = String(value || "").trim();
    if (text.length > MAX_QUERY) text = text.slice(0, MAX_QUERY).trim();
    return WORDY.test(text) ? text : "";
  }

  // GET /api/search's URL for the box: `scope` = {hub} or {person} (whose activity the widget shows),
  // `before` the cursor of the previous page (or null).
  function searchUrl(scope, text, limit, before) {
    var params = [["q", text]];
    if (scope.person) params.push(["person", scope.person]);
    else params.push(["hub", scope.hub]);
    params.push(["limit", String(limit)]);
    if (before) params.push(["before", before]);
    return "/api/search?" + params.map(function (p) {
      return encodeURIComponent(p[0]) + "=" + encodeURIComponent(p[1]);
    }).join("&");
  }

  // What the widget says of a page of results: `shown` messages are on screen, `more` if older ones exist.
  function searchSaid(text, shown, more) {
    var quoted = "\u201c" + text + "\u201d";
    if (!shown) return "No messages match " + quoted + ".";
    return (shown === 1 ? "1 message matches " : shown + (more ? " messages (and older ones) match " : " messages match ")) +
      quoted + ".";
  }

  // The sentence of a failed search: the server's own words when it gave some (a 400 says what is wrong).
  function searchError(status, body) {
    if (!status) return "Search failed: Hubs cannot be reached. Try again in a moment.";
    if (body && typeof body.error === "string" && body.error) return "Search failed: " + body.error;
    return "Search failed (the server answered " + status + "). Try again in a moment.";
  }

  // Only web links are followed from a result (never javascript: or data:).
  function safeLink(url) {
    return typeof url === "string" && /^https?:\/\/[^\s\/]/i.test(url) ? url : "";
  }

  var ENTITIES = { amp: "&", lt: "<", gt: ">", quot: "\"", apos: "'" };

  function unescape(text) {
    return text.replace(/&(#x[0-9a-f]+|#[0-9]+|[a-z]+);/gi, function (whole, name) {
      if (name[0] === "#") {
        var code = name[1] === "x" || name[1] === "X" ? parseInt(name.slice(2), 16) : parseInt(name.slice(1), 10);
        return code > 0 && code <= 0x10FFFF ? String.fromCodePoint(code) : whole;
      }
      return Object.prototype.hasOwnProperty.call(ENTITIES, name) ? ENTITIES[name] : whole;
    });
  }

  // A highlight as /api/search gives it (escaped HTML with <mark> around matches) as [{text, marked}]: the page
  // draws text nodes from it, never HTML, so whatever else the string held shows as text.
  function highlightParts(html) {
    var parts = [];
    var marked = false;
    String(html || "").split(/(<mark>|<\/mark>)/).forEach(function (piece) {
      if (piece === "<mark>") { marked = true; return; }
      if (piece === "</mark>") { marked = false; return; }
      if (!piece) return;
      var text = unescape(piece);
      var last = parts[parts.length - 1];
      if (last && last.marked === marked) last.text += text;
      else parts.push({ text: text, marked: marked });
    });
    return parts;
  }

  var lib = { followChoice: followChoice, isFollowing: isFollowing, followSaid: followSaid, searchText: searchText,
              searchUrl: searchUrl, searchSaid: searchSaid, searchError: searchError, safeLink: safeLink,
              highlightParts: highlightParts };
  if (typeof module === "object" && module.exports) module.exports = lib;
  else root.HubsHubLib = lib;
})(this);
