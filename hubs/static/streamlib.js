// The stream page's decisions, as plain functions of plain values (no DOM, no clock, no network):
// grouping consecutive items, what a group says, relative times, the keyboard map, filters <-> URL,
// which view an item belongs in after a change. stream.js draws with them; tests/test_stream_js.py
// runs them in node from tables of cases.
(function (root) {
  "use strict";

  var VIEWS = ["everything", "needs-me", "mine", "saved", "done"];
  // The filters a stream can have, each also in a "not_" form (GET /api/stream's parameters).
  var FILTERS = ["reason", "service", "topic", "package", "person", "hub"];
  var FAR = 253402214400;  // 9999-12-31: "snoozed, until the server says when"
  var NEEDS_ME = { mentioned: true, "package": true, group: true };

  // ------------------------------------------------------------------ grouping

  // Consecutive items about the same thing (same non-empty `group`) become one group; others stand alone.
  // Returns [{key, items}], in the order given (newest first).
  function groupItems(items) {
    var groups = [];
    items.forEach(function (item) {
      var last = groups[groups.length - 1];
      if (item.group && last && last.key === item.group) last.items.push(item);
      else groups.push({ key: item.group || null, items: [item] });
    });
    return groups;
  }

  // What a collapsed group says: "ralph and 10 others commented on gimp-1.0-1.fc43".
  // The newest item's summary gives the words; its agent is taken off the front and the other agents
  // are counted. A summary that does not start with its agent's name is told as "N updates: <summary>".
  function groupSummary(items) {
    var newest = items[0].message || {};
    var summary = newest.summary || newest.topic || "";
    if (items.length === 1) return summary;
    var agents = [];
    items.forEach(function (i) {
      var a = (i.message || {}).agent;
      if (a && agents.indexOf(a) < 0) agents.push(a);
    });
    var agent = newest.agent;
    if (!agent || summary.indexOf(agent + " ") !== 0) return items.length + " updates: " + summary;
    var rest = summary.slice(agent.length + 1);
    if (agents.length <= 1) return agent + " " + rest + " (" + items.length + " times)";
    var others = agents.length - 1;
    if (others === 1) return agent + " and " + agents[1] + " " + rest;
    return agent + " and " + others + " others " + rest;
  }

  // ------------------------------------------------------------------ time

  var MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

  // "just now", "5 min ago", "3 h ago", "yesterday", "4 days ago", then the date ("3 Dec", "3 Dec 2025").
  // `epoch` and `now` in seconds; dates are given in UTC (the exact local time is in the title).
  function relativeTime(epoch, now) {
    var ago = Math.max(0, Math.round(now - epoch));
    if (ago < 10) return "just now";
    if (ago < 60) return ago + " s ago";
    if (ago < 3600) return Math.floor(ago / 60) + " min ago";
    if (ago < 86400) return Math.floor(ago / 3600) + " h ago";
    var days = Math.floor(ago / 86400);
    if (days === 1) return "yesterday";
    if (days < 7) return days + " days ago";
    var d = new Date(epoch * 1000);
    var text = d.getUTCDate() + " " + MONTHS[d.getUTCMonth()];
    if (d.getUTCFullYear() !== new Date(now * 1000).getUTCFullYear()) text += " " + d.getUTCFullYear();
    return text;
  }

  // ------------------------------------------------------------------ keyboard

  var KEYS = { j: "next", k: "previous", x: "select", e: "done", s: "save", u: "unread", "/": "search",
               "?": "help", o: "open", Enter: "open" };
  var KEY_HELP = [["j", "Next item"], ["k", "Previous item"], ["x", "Select or unselect the item"],
                  ["e", "Mark done (or not done)"], ["s", "Save (or unsave)"], ["u", "Mark unread (or read)"],
                  ["o or Enter", "Open the item's link"], ["/", "Search the stream"], ["?", "This list of keys"],
                  ["Escape", "Close a menu or dialog"]];
  var TYPING = { INPUT: true, TEXTAREA: true, SELECT: true };

  // The action a key press asks for, or null. `e` = {key, ctrlKey, metaKey, altKey, tag, editable}: never
  // while typing (in a field or an editable element) nor with a modifier other than Shift (browser keys).
  // Enter means "open" only on a card itself (on a button or link it is the control's own).
  function keyAction(e) {
    if (e.ctrlKey || e.metaKey || e.altKey) return null;
    if (e.editable || TYPING[(e.tag || "").toUpperCase()]) return null;
    if (e.key === "Enter" && !e.onCard) return null;
    return KEYS[e.key] || null;
  }

  // ------------------------------------------------------------------ filters and URLs

  function emptyFilter() { return { view: "everything", q: "" }; }

  // A filter from a URL's query string ("?view=needs-me&package=gimp&not_service=copr").
  // Unknown views fall back to "everything"; unknown parameters are ignored.
  function parseFilter(search) {
    var filter = emptyFilter();
    var params = new URLSearchParams(search || "");
    var view = params.get("view");
    if (view && VIEWS.indexOf(view) >= 0) filter.view = view;
    filter.q = params.get("q") || "";
    FILTERS.forEach(function (name) {
      [name, "not_" + name].forEach(function (key) {
        var values = params.getAll(key).filter(function (v) { return v !== ""; });
        if (values.length) filter[key] = values;
      });
    });
    return filter;
  }

  // The query string of a filter (no "?"), in a stable order; the default view and an empty q are left out.
  // `extra` adds parameters (before, limit).
  function filterQuery(filter, extra) {
    var params = new URLSearchParams();
    if (filter.view && filter.view !== "everything") params.append("view", filter.view);
    if (filter.q) params.append("q", filter.q);
    FILTERS.forEach(function (name) {
      [name, "not_" + name].forEach(function (key) {
        (filter[key] || []).forEach(function (v) { params.append(key, v); });
      });
    });
    Object.keys(extra || {}).forEach(function (k) {
      if (extra[k] !== null && extra[k] !== undefined) params.append(k, extra[k]);
    });
    return params.toString();
  }

  // The filter as JSON for POST bodies and saved filters (the view is not part of it).
  function filterJson(filter) {
    var out = {};
    if (filter.q) out.q = filter.q;
    FILTERS.forEach(function (name) {
      [name, "not_" + name].forEach(function (key) { if ((filter[key] || []).length) out[key] = filter[key].slice(); });
    });
    return out;
  }

  // [{key, value, label}] of the filters in force (the view and q are not chips); [] when none.
  function activeFilters(filter) {
    var out = [];
    FILTERS.forEach(function (name) {
      [name, "not_" + name].forEach(function (key) {
        (filter[key] || []).forEach(function (v) {
          out.push({ key: key, value: v, label: (key.indexOf("not_") === 0 ? "not " + name : name) + ": " + v });
        });
      });
    });
    return out;
  }

  // A copy of `filter` with `value` added to (or, with remove, taken from) `key`.
  function withFilter(filter, key, value, remove) {
    var out = {};
    Object.keys(filter).forEach(function (k) { out[k] = Array.isArray(filter[k]) ? filter[k].slice() : filter[k]; });
    var list = (out[key] || []).filter(function (v) { return v !== value; });
    if (!remove) list.push(value);
    if (list.length) out[key] = list; else delete out[key];
    return out;
  }

  // Does a topic match a glob ("*" any run of characters, "?" one)? As the server's topic filter.
  function globMatch(glob, topic) {
    var re = "^" + glob.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".") + "$";
    return new RegExp(re).test(topic);
  }

  // Whether an item (as the API gives it) passes the filter's parts the page can check itself; null when
  // the filter has a part only the server knows (hub, words): the page then offers to reload instead.
  function matchesFilter(filter, item) {
    if (filter.q || (filter.hub || []).length || (filter.not_hub || []).length) return null;
    var m = item.message || {};
    var kinds = (item.reasons || []).map(function (r) { return r.kind; });
    var people = (m.usernames || []).concat(m.agent ? [m.agent] : []);
    var values = { reason: kinds, service: [m.category], package: m.packages || [], person: people };
    function any(list, wanted) { return wanted.some(function (w) { return list.indexOf(w) >= 0; }); }
    for (var name in values) {
      if ((filter[name] || []).length && !any(values[name], filter[name])) return false;
      if ((filter["not_" + name] || []).length && any(values[name], filter["not_" + name])) return false;
    }
    var topic = m.topic || "";
    if ((filter.topic || []).length && !filter.topic.some(function (g) { return globMatch(g, topic); })) return false;
    if ((filter.not_topic || []).some(function (g) { return globMatch(g, topic); })) return false;
    return true;
  }

  // ------------------------------------------------------------------ views and changes

  // When a snooze ends, in seconds (0: not snoozed): the server gives an epoch; an ISO text is read too.
  function snoozeEnd(until) {
    if (until === null || until === undefined) return 0;
    if (typeof until === "number") return until;
    var t = Date.parse(until);
    return isNaN(t) ? 0 : t / 1000;
  }

  // Does an item belong in a view? (As the server decides; `now` in seconds for snoozes.)
  function inView(view, item, now) {
    var snoozed = snoozeEnd(item.snoozed_until) > now;
    var kinds = (item.reasons || []).map(function (r) { return r.kind; });
    var byMe = kinds.indexOf("actor") >= 0;
    switch (view) {
      case "done": return !!item.done;
      case "saved": return !!item.saved;
      case "mine": return !item.done && !snoozed && kinds.indexOf("actor") >= 0;
      case "needs-me": return !item.done && !snoozed && !byMe && kinds.some(function (k) { return NEEDS_ME[k]; });
      default: return !item.done && !snoozed;
    }
  }

  // An item after a change ({"unread": false, "done": true, "saved": true, "snooze": "1h"|null|...}).
  // A snooze's end is decided by the server; here a snooze only marks the item as away (snoozed_until far
  // ahead) until the server says more, and null wakes it.
  function applyChange(item, set) {
    var out = {};
    Object.keys(item).forEach(function (k) { out[k] = item[k]; });
    ["unread", "done", "saved"].forEach(function (k) { if (typeof set[k] === "boolean") out[k] = set[k]; });
    if (Object.prototype.hasOwnProperty.call(set, "snoozed_until")) out.snoozed_until = set.snoozed_until;
    else if (Object.prototype.hasOwnProperty.call(set, "snooze")) {
      out.snoozed_until = set.snooze === null ? null : FAR;
    }
    return out;
  }

  // What a triage control does to these items: the opposite of what the first one has ("toggle").
  function toggleSet(action, items) {
    var first = items[0] || {};
    if (action === "done") return { done: !first.done };
    if (action === "save") return { saved: !first.saved };
    if (action === "unread") return { unread: !first.unread };
    if (action === "read") return { unread: false };
    return null;
  }

  // The header badge's words: "12" shown, "12 unread in your stream" said; more than 99 shows "99+".
  // counts.more: the hubs' unread items were counted up to a cap ("1000+ unread").
  function countLabel(counts) {
    var n = Math.max(0, (counts && counts.unread) | 0);
    var more = !!(counts && counts.more);
    return { shown: n > 99 ? "99+" : String(n) + (more ? "+" : ""),
             said: n === 0 ? "Stream: nothing unread" : "Stream: " + n + (more ? "+" : "") + " unread" };
  }

  var lib = { VIEWS: VIEWS, FILTERS: FILTERS, KEY_HELP: KEY_HELP, groupItems: groupItems, groupSummary: groupSummary,
              relativeTime: relativeTime, keyAction: keyAction, parseFilter: parseFilter, filterQuery: filterQuery,
              filterJson: filterJson, activeFilters: activeFilters, withFilter: withFilter, globMatch: globMatch,
              matchesFilter: matchesFilter, inView: inView, snoozeEnd: snoozeEnd, applyChange: applyChange, toggleSet: toggleSet,
              countLabel: countLabel, emptyFilter: emptyFilter };
  if (typeof module === "object" && module.exports) module.exports = lib;
  else root.HubsStream = lib;
})(this);
