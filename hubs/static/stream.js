// The stream page (/stream): the signed-in person's items, with why each is there, triage, filters, live.
// Decisions live in streamlib.js (window.HubsStream); this file draws, listens and asks the server.
// The page keeps ONE EventSource (/stream/events): new items (stream-item), triage done elsewhere
// (stream-change) and counts (stream-count). Cards are kept and updated in place (by item id), so the
// focus, the reader's place and the pages "Load more" brought stay when the list changes live.
(function () {
  "use strict";
  var lib = window.HubsStream;
  var box = document.getElementById("stream");
  if (!box || !lib) return;

  var filter = lib.parseFilter(location.search);
  var items = [];            // shown items, newest first (as the API gives them)
  var byId = {};             // id -> item
  var cards = {};            // id -> <li> of its card
  var groups = {};           // group node key -> <li> of a group
  var expanded = {};         // group key -> true when opened
  var selected = {};         // id -> true
  var next = null;           // cursor of the next page
  var loading = 0;           // the number of the newest list request
  var follows = {};          // "kind:name" -> true
  var csrf = null;
  var source = null;
  var lastId = null;
  var liveState = "connecting";
  var everLive = false;
  var counts = null;
  var undoAction = null;
  var undoTimer = null;
  var list = null;
  var live = document.getElementById("live");
  var staleNotice = document.getElementById("stale-notice");
  var announcer = document.getElementById("announcer");
  var loadMore = document.getElementById("load-more");
  var search = document.getElementById("stream-q");
  var LIVE_TEXT = { connecting: "Connecting…", live: "Live", reconnecting: "Reconnecting…", offline: "Offline — retrying" };
  var EMPTY = {
    everything: "Nothing here yet. Items about your packages, your groups, the people, packages and hubs you follow, " +
                "and mentions of you will appear here, live.",
    "needs-me": "Nothing needs you. Items about your packages, groups and mentions will appear here.",
    mine: "None of your own actions yet. What you do on Fedora's services (builds, updates, comments) shows here.",
    saved: "Nothing saved. Save an item (s) to keep it here for good.",
    done: "Nothing done yet. Items you mark done (e) move here, out of the other views.",
  };
  var VIEW_NAMES = { everything: "Everything", "needs-me": "Needs me", mine: "My actions", saved: "Saved", done: "Done" };
  var MUTES = [["package", "packages"], ["service", "category"], ["person", "agent"], ["topic", "topic"]];

  function now() { return Date.now() / 1000; }

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

  // ------------------------------------------------------------------ telling people

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

  // ------------------------------------------------------------------ the server

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

  // ------------------------------------------------------------------ counts

  function setCounts(c) {
    if (!c) return;
    counts = c;
    document.querySelectorAll(".tab-count").forEach(function (span) {
      var n = c[span.getAttribute("data-count")];
      var some = typeof n === "number" && n > 0;
      // Said with the tab's name: "Needs me 5 unread".
      span.textContent = some ? String(n) : "";
      if (some) span.appendChild(el("span", { class: "visually-hidden", text: " unread" }));
      span.hidden = !some;
    });
    if (window.hubsCount) window.hubsCount.set(c, true);
    document.title = (c.unread ? "(" + c.unread + ") " : "") + "My stream · Hubs";
  }

  // ------------------------------------------------------------------ cards

  function reasonText(r) { return r.text || (r.kind + (r.name ? ": " + r.name : "")); }

  function itemLabel(item) {
    var m = item.message || {};
    return m.summary || m.topic || "an item";
  }

  function menu(label, name, buttons) {
    var d = el("details", { class: "menu" }, [
      el("summary", { "aria-label": name }, [label]),
      el("div", { class: "menu-list", role: "group", "aria-label": name }, buttons)]);
    return d;
  }

  function actionButton(act, text, extra) {
    var attrs = { type: "button", "data-act": act, text: text };
    Object.keys(extra || {}).forEach(function (k) { attrs[k] = extra[k]; });
    return el("button", attrs);
  }

  function buildCard(item) {
    var id = item.id;
    var m = item.message || {};
    var sid = "item-" + id;
    var summary = m.link && /^https?:\/\//.test(m.link)
      ? el("a", { href: m.link, id: sid + "-summary", class: "item-link", rel: "noopener", text: itemLabel(item) })
      : el("span", { id: sid + "-summary", text: itemLabel(item) });
    var icon = el("span", { class: "item-icon", "aria-hidden": "true", "data-initial": (m.category || "?").charAt(0).toUpperCase() });
    if (m.icon && /^https?:\/\//.test(m.icon)) {
      var img = el("img", { src: m.icon, alt: "", loading: "lazy" });
      img.addEventListener("error", function () { img.remove(); });
      icon.appendChild(img);
    }
    var time = el("time", { datetime: new Date((m.time || 0) * 1000).toISOString(), "data-epoch": String(m.time || 0) });
    var meta = el("p", { class: "item-meta" }, [
      m.agent ? el("a", { href: "/" + encodeURIComponent(m.agent), text: m.agent }) : null,
      m.agent ? " · " : null, time, m.category ? " · " + m.category : null,
      el("span", { class: "item-state" })]);
    var reasons = el("ul", { class: "reasons", "aria-label": "Why this is here" },
      (item.reasons || []).map(function (r) {
        return el("li", {}, [el("button", { type: "button", class: "reason-chip", "data-reason": r.kind,
          title: "Show only items here for this reason (" + r.kind + ")", text: reasonText(r) })]);
      }));
    var people = [];
    if (m.agent) people.push(m.agent);
    var muteButtons = [];
    if ((m.packages || [])[0]) muteButtons.push(actionButton("mute", "Mute package " + m.packages[0], { "data-kind": "package", "data-value": m.packages[0] }));
    if (m.category) muteButtons.push(actionButton("mute", "Mute " + m.category + " (service)", { "data-kind": "service", "data-value": m.category }));
    if (m.agent) muteButtons.push(actionButton("mute", "Mute " + m.agent + " (person)", { "data-kind": "person", "data-value": m.agent }));
    if (m.topic) muteButtons.push(actionButton("mute", "Mute this topic", { "data-kind": "topic", "data-value": m.topic, title: m.topic }));
    var followButtons = [];
    if (m.agent) followButtons.push(actionButton("follow", "", { "data-kind": "person", "data-value": m.agent }));
    if ((m.packages || [])[0]) followButtons.push(actionButton("follow", "", { "data-kind": "package", "data-value": m.packages[0] }));
    var actions = el("div", { class: "item-actions", role: "group", "aria-label": "Actions on this item" }, [
      actionButton("unread", ""),
      actionButton("done", ""),
      actionButton("save", ""),
      menu("Snooze", "Snooze", [
        actionButton("snooze", "For 1 hour", { "data-snooze": "1h" }),
        actionButton("snooze", "Until tomorrow 09:00", { "data-snooze": "tomorrow" }),
        actionButton("snooze", "Until next week", { "data-snooze": "next-week" }),
        el("label", { class: "snooze-pick" }, ["Until ", el("input", { type: "datetime-local", class: "snooze-date", "aria-label": "Snooze until this date and time" })]),
        actionButton("snooze-date", "Snooze until then")]),
      menu("More", "More actions", muteButtons.concat(followButtons)),
    ]);
    var select = el("input", { type: "checkbox", class: "select", "aria-label": "Select: " + itemLabel(item) });
    var article = el("article", { class: "card-body", "aria-labelledby": sid + "-summary", "aria-describedby": sid + "-state" }, [
      el("p", { class: "item-summary" }, [el("span", { class: "unread-mark", id: sid + "-state" }), summary]),
      meta,
      el("div", { class: "item-foot" }, [reasons, actions])]);
    var li = el("li", { class: "stream-item row", id: sid, "data-id": String(id), tabindex: "-1" }, [select, icon, article]);
    cards[id] = li;
    updateCard(li, item);
    return li;
  }

  function setText(node, text) { if (node.textContent !== text) node.textContent = text; }

  // What a card shows of its item's state: words, not only colour ("Unread", "Saved", "Done").
  function updateCard(li, item) {
    li.classList.toggle("unread", !!item.unread);
    li.classList.toggle("saved", !!item.saved);
    li.classList.toggle("done", !!item.done);
    li.classList.toggle("selected", !!selected[item.id]);
    li.querySelector(".select").checked = !!selected[item.id];
    var mark = li.querySelector(".unread-mark");
    setText(mark, item.unread ? "Unread" : "Read");  // "Read" is only heard (the card's description)
    mark.classList.toggle("on", !!item.unread);
    var extra = [item.saved ? "Saved" : "", item.done ? "Done" : ""].filter(Boolean).join(", ");
    setText(li.querySelector(".item-state"), extra ? " · " + extra : "");
    var b = li.querySelector('[data-act="unread"]');
    setText(b, item.unread ? "Mark read" : "Mark unread");
    b = li.querySelector('[data-act="done"]');
    setText(b, item.done ? "Not done" : "Done");
    b = li.querySelector('[data-act="save"]');
    setText(b, item.saved ? "Saved" : "Save");
    b.setAttribute("aria-pressed", String(!!item.saved));
    li.querySelectorAll('[data-act="follow"]').forEach(function (f) {
      var key = f.getAttribute("data-kind") + ":" + f.getAttribute("data-value");
      setText(f, (follows[key] ? "Unfollow " : "Follow ") + f.getAttribute("data-value") +
              (f.getAttribute("data-kind") === "package" ? " (package)" : ""));
    });
    var t = li.querySelector("time");
    var epoch = parseFloat(t.getAttribute("data-epoch"));
    setText(t, lib.relativeTime(epoch, now()));
    t.title = new Date(epoch * 1000).toLocaleString();
  }

  function buildGroup(key, nodeKey) {
    var gid = "group-" + Object.keys(groups).length + "-" + Math.floor(Math.random() * 1e6);
    var toggle = el("button", { type: "button", class: "group-toggle row", "aria-expanded": "false", "aria-controls": gid });
    toggle.appendChild(el("span", { class: "group-text" }));
    toggle.appendChild(el("span", { class: "group-meta muted small" }));
    var inner = el("ol", { class: "group-items", id: gid, hidden: "hidden", "aria-label": "Items of this group" });
    var li = el("li", { class: "stream-group", "data-group": key, "data-node": nodeKey }, [toggle, inner]);
    groups[nodeKey] = li;
    return li;
  }

  function updateGroup(li, group) {
    var toggle = li.querySelector(".group-toggle");
    var unread = group.items.filter(function (i) { return i.unread; }).length;
    setText(toggle.querySelector(".group-text"), lib.groupSummary(group.items));
    setText(toggle.querySelector(".group-meta"), group.items.length + " items" + (unread ? ", " + unread + " unread" : "") +
            " · " + lib.relativeTime(group.items[0].message.time, now()));
    li.classList.toggle("unread", unread > 0);
    var open = !!expanded[group.key];
    toggle.setAttribute("aria-expanded", String(open));
    li.querySelector(".group-items").hidden = !open;
    placeChildren(li.querySelector(".group-items"), group.items.map(function (i) { return cardFor(i); }));
  }

  function cardFor(item) {
    var li = cards[item.id];
    if (li) updateCard(li, item); else li = buildCard(item);
    return li;
  }

  // Make `parent`'s children exactly `nodes`, moving only nodes out of place (a moved node loses the focus).
  function placeChildren(parent, nodes) {
    var keep = new Set(nodes);
    Array.prototype.slice.call(parent.children).forEach(function (c) { if (!keep.has(c)) c.remove(); });
    nodes.forEach(function (node, i) {
      var here = parent.children[i];
      if (here !== node) parent.insertBefore(node, here || null);
    });
  }

  // ------------------------------------------------------------------ drawing the list

  function rows() {
    return Array.prototype.filter.call(box.querySelectorAll(".row"), function (r) { return r.offsetParent !== null; });
  }

  // Keep what the reader looks at where it is on screen when items are added above it.
  function placeNow() {
    if (window.scrollY === 0) return null;
    var focus = document.activeElement;
    var anchor = focus && box.contains(focus) ? focus : null;
    if (!anchor) anchor = rows().find(function (r) { return r.getBoundingClientRect().bottom > 0; });
    return anchor ? { node: anchor, top: anchor.getBoundingClientRect().top } : null;
  }

  function draw() {
    var place = placeNow();
    var focus = document.activeElement;
    var focusRow = focus && box.contains(focus) ? focus.closest(".row") || focus : null;
    var rowIndex = focusRow ? rows().indexOf(focusRow) : -1;
    if (!list) {
      box.textContent = "";
      list = el("ol", { class: "stream-list", id: "stream-list", "aria-label": "Items, newest first" });
      box.appendChild(list);
    }
    var seenCards = {};
    var seenGroups = {};
    var nodes = lib.groupItems(items).map(function (g) {
      if (g.items.length === 1) { seenCards[g.items[0].id] = true; return cardFor(g.items[0]); }
      var nodeKey = g.key + "\u0000" + g.items[g.items.length - 1].id;
      var li = groups[nodeKey] || buildGroup(g.key, nodeKey);
      seenGroups[nodeKey] = true;
      g.items.forEach(function (i) { seenCards[i.id] = true; });
      updateGroup(li, g);
      return li;
    });
    placeChildren(list, nodes);
    Object.keys(cards).forEach(function (id) { if (!seenCards[id]) delete cards[id]; });
    Object.keys(groups).forEach(function (k) { if (!seenGroups[k]) delete groups[k]; });
    var empty = box.querySelector(".stream-empty");
    if (!items.length && !empty) {
      empty = el("div", { class: "stream-empty" }, [el("p", { text: emptyText() })]);
      if (lib.activeFilters(filter).length || filter.q) {
        empty.appendChild(el("button", { type: "button", class: "link", text: "Clear filters and search", onclick: clearFilters }));
      }
      box.appendChild(empty);
    } else if (items.length && empty) {
      empty.remove();
    }
    if (empty && items.length === 0) setText(empty.querySelector("p"), emptyText());
    // The focused card left (done, snoozed, muted): the focus goes to what took its place.
    if (focusRow && !focusRow.isConnected) {
      var now2 = rows();
      var to = now2[Math.min(rowIndex, now2.length - 1)];
      if (to) to.focus({ preventScroll: true }); else document.getElementById("main").focus({ preventScroll: true });
    } else if (focus && focus !== document.activeElement && focus.isConnected) {
      focus.focus({ preventScroll: true });
    }
    if (place && place.node.isConnected) {
      var moved = place.node.getBoundingClientRect().top - place.top;
      if (Math.abs(moved) >= 1) window.scrollBy(0, moved);
    }
    drawSelection();
  }

  function emptyText() {
    if (lib.activeFilters(filter).length || filter.q) return "Nothing in " + VIEW_NAMES[filter.view] + " matches this filter" +
      (filter.q ? " and search" : "") + ".";
    return EMPTY[filter.view];
  }

  setInterval(function () {
    Object.keys(cards).forEach(function (id) { if (byId[id]) updateCard(cards[id], byId[id]); });
  }, 30000);

  // ------------------------------------------------------------------ loading

  function setItems(list2) {
    items = list2;
    byId = {};
    items.forEach(function (i) { byId[i.id] = i; });
  }

  function showError(message) {
    box.removeAttribute("aria-busy");
    var old = box.querySelector(".stream-error");
    if (old) old.remove();
    var p = el("div", { class: "stream-error", role: "alert" }, [
      el("p", { text: message + " " }),
      el("button", { type: "button", text: "Try again", onclick: function () { reload(); } })]);
    box.insertBefore(p, box.firstChild);
  }

  // The first page the server put in the page (for this very URL), else null.
  function firstPage() {
    var script = document.getElementById("stream-first");
    if (!script) return null;
    script.remove();
    try { return JSON.parse(script.textContent); } catch (err) { return null; }
  }

  function reload(first) {
    var ask = ++loading;
    box.setAttribute("aria-busy", "true");
    if (!list) box.innerHTML = '<p class="stream-loading"><span class="spinner" aria-hidden="true"></span> Loading your stream…</p>';
    document.getElementById("new-items").hidden = true;
    var asked = first && first.items ? Promise.resolve(Object.assign({ status: 200 }, first))
      : api("GET", "/api/stream?" + lib.filterQuery(filter, { limit: 50 }));
    return asked.then(function (r) {
      if (ask !== loading) return;
      box.removeAttribute("aria-busy");
      if (r.status !== 200) {
        showError(r.status === 400 ? "This filter cannot be used: " + (r.error || "bad request") + "."
                  : "Your stream could not be loaded: " + (r.error || "the server answered " + r.status) + ".");
        return;
      }
      var err = box.querySelector(".stream-error");
      if (err) err.remove();
      var loadingNote = box.querySelector(".stream-loading");
      if (loadingNote) loadingNote.remove();
      selected = {};
      setItems(r.items || []);
      next = r.next || null;
      loadMore.hidden = !next;
      setCounts(r.counts);
      draw();
    });
  }

  loadMore.addEventListener("click", function () {
    if (!next || loadMore.getAttribute("aria-disabled") === "true") return;
    loadMore.setAttribute("aria-disabled", "true");
    setText(loadMore, "Loading…");
    var ask = loading;
    api("GET", "/api/stream?" + lib.filterQuery(filter, { before: next, limit: 50 })).then(function (r) {
      loadMore.removeAttribute("aria-disabled");
      if (ask !== loading) return;
      if (r.status !== 200) { setText(loadMore, "Load more (try again)"); failed(r, "Loading more"); return; }
      var firstNew = null;
      var added = 0;
      (r.items || []).forEach(function (i) {
        if (byId[i.id]) return;
        items.push(i); byId[i.id] = i; added += 1;
        if (!firstNew) firstNew = i;
      });
      next = r.next || null;
      setText(loadMore, "Load more");
      draw();
      announce(added + " older item" + (added === 1 ? "" : "s") + " loaded" + (next ? "." : "; that is all."));
      if (!next) {
        var focused = document.activeElement === loadMore;
        loadMore.hidden = true;
        if (focused && firstNew && cards[firstNew.id]) cards[firstNew.id].focus();
      }
    });
  });

  // ------------------------------------------------------------------ triage

  // Change items (ids) everywhere at once: shown at once, undone if the server says no.
  function act(ids, set, words, undoable) {
    ids = ids.filter(function (id) { return byId[id]; });
    if (!ids.length) return Promise.resolve(null);
    var before = ids.map(function (id) { return byId[id]; });
    applyLocally(ids, set);
    return api("POST", "/api/stream/items", { ids: ids, set: set }).then(function (r) {
      if (r.status !== 200) {
        before.forEach(function (i) { restore(i); });
        draw();
        failed(r, words);
        return null;
      }
      setCounts(r.counts);
      var n = ids.length === 1 ? "" : " (" + ids.length + " items)";
      if (undoable) {
        offerUndo(words + n + ".", function () {
          before.forEach(function (i) { restore(i); });
          draw();
          api("POST", "/api/stream/items", { ids: ids, set: undoable }).then(function (u) {
            if (u.status !== 200) failed(u, "Undo"); else { setCounts(u.counts); announce("Undone."); }
          });
        });
      } else {
        announce(words + n + ".");
      }
      return r;
    });
  }

  // Put an item back as it was (an undo, a refusal), where it belongs by id among the shown ones.
  function restore(item) {
    items = items.filter(function (i) { return i.id !== item.id; });
    delete byId[item.id];
    if (!lib.inView(filter.view, item, now())) return;
    var at = items.findIndex(function (i) { return i.id < item.id; });
    if (at < 0) items.push(item); else items.splice(at, 0, item);
    byId[item.id] = item;
  }

  function applyLocally(ids, set) {
    ids.forEach(function (id) {
      var item = byId[id];
      if (!item) return;
      var changed = lib.applyChange(item, set);
      if (lib.inView(filter.view, changed, now())) {
        items[items.indexOf(item)] = changed;
        byId[id] = changed;
      } else {
        items.splice(items.indexOf(item), 1);
        delete byId[id];
        delete selected[id];
      }
    });
    draw();
  }

  function triage(action, ids, extra) {
    var targets = ids.map(function (id) { return byId[id]; }).filter(Boolean);
    if (!targets.length) return;
    if (action === "snooze") {
      act(ids, { snooze: extra }, extra === "1h" ? "Snoozed for an hour" : extra === "tomorrow" ? "Snoozed until tomorrow 09:00"
          : extra === "next-week" ? "Snoozed until next week" : "Snoozed until " + extra, { snooze: null });
      return;
    }
    var set = lib.toggleSet(action, targets);
    if (!set) return;
    var words = action === "done" ? (set.done ? "Marked done" : "Marked not done")
      : action === "save" ? (set.saved ? "Saved" : "Unsaved")
      : (set.unread ? "Marked unread" : "Marked read");
    var undo = action === "done" ? { done: !set.done } : null;
    act(ids, set, words, undo);
  }

  function mute(kind, value) {
    var hidden = items.filter(function (i) { return mutedBy(kind, value, i); });
    api("POST", "/api/stream/mutes", { kind: kind, value: value }).then(function (r) {
      if (r.status >= 300) { failed(r, "Muting"); return; }
      hidden.forEach(function (i) { items.splice(items.indexOf(i), 1); delete byId[i.id]; });
      draw();
      offerUndo("Muted " + kind + " " + value + ": its items are hidden.", function () {
        api("DELETE", "/api/stream/mutes/" + encodeURIComponent(r.id)).then(function (u) {
          if (u.status >= 300) { failed(u, "Undo"); return; }
          hidden.forEach(function (i) { restore(i); });
          draw();
          announce("Unmuted " + value + ".");
        });
      });
    });
  }

  function mutedBy(kind, value, item) {
    var m = item.message || {};
    if (kind === "package") return (m.packages || []).indexOf(value) >= 0;
    if (kind === "service") return m.category === value;
    if (kind === "person") return m.agent === value;
    if (kind === "topic") return m.topic === value;
    return false;
  }

  function follow(kind, name) {
    var key = kind + ":" + name;
    var on = !follows[key];
    api("POST", "/api/follows", { kind: kind, name: name, follow: on }).then(function (r) {
      if (r.status >= 300) { failed(r, on ? "Following" : "Unfollowing"); return; }
      if (on) follows[key] = true; else delete follows[key];
      Object.keys(cards).forEach(function (id) { updateCard(cards[id], byId[id]); });
      announce((on ? "You follow " : "You no longer follow ") + name + ".");
    });
  }

  function loadFollows() {
    api("GET", "/api/follows").then(function (r) {
      if (r.status !== 200) return;
      follows = {};
      (r.follows || r.items || []).forEach(function (f) { follows[f.kind + ":" + f.name] = true; });
      Object.keys(cards).forEach(function (id) { if (byId[id]) updateCard(cards[id], byId[id]); });
    });
  }

  // One listener for every card's controls.
  box.addEventListener("click", function (e) {
    var t = e.target;
    var toggle = t.closest(".group-toggle");
    if (toggle) {
      var g = toggle.closest(".stream-group");
      var key = g.getAttribute("data-group");
      expanded[key] = !expanded[key];
      draw();
      announce(expanded[key] ? "Group opened." : "Group closed.");
      return;
    }
    var chip = t.closest(".reason-chip");
    if (chip) { changeFilter(lib.withFilter(filter, "reason", chip.getAttribute("data-reason"))); return; }
    var button = t.closest("button[data-act]");
    var li = t.closest(".stream-item");
    if (!li) return;
    var id = Number(li.getAttribute("data-id"));
    if (!button) return;
    var a = button.getAttribute("data-act");
    var menuNode = button.closest("details");
    function closeMenu() {
      if (menuNode) { menuNode.open = false; if (menuNode.isConnected) menuNode.querySelector("summary").focus(); }
    }
    if (a === "unread" || a === "done" || a === "save") triage(a, [id]);
    else if (a === "snooze") { closeMenu(); triage("snooze", [id], button.getAttribute("data-snooze")); }
    else if (a === "snooze-date") {
      var input = li.querySelector(".snooze-date");
      if (!input.value) { input.focus(); toast("Pick a date and time first.", "bad"); return; }
      closeMenu();
      triage("snooze", [id], new Date(input.value).toISOString());
    } else if (a === "mute") { closeMenu(); mute(button.getAttribute("data-kind"), button.getAttribute("data-value")); }
    else if (a === "follow") { closeMenu(); follow(button.getAttribute("data-kind"), button.getAttribute("data-value")); }
  });

  box.addEventListener("change", function (e) {
    if (!e.target.classList.contains("select")) return;
    var id = Number(e.target.closest(".stream-item").getAttribute("data-id"));
    if (e.target.checked) selected[id] = true; else delete selected[id];
    cards[id].classList.toggle("selected", e.target.checked);
    drawSelection();
  });

  // Escape closes an open menu and gives the focus back to its button.
  box.addEventListener("keydown", function (e) {
    if (e.key !== "Escape") return;
    var d = e.target.closest && e.target.closest("details[open]");
    if (d) { d.open = false; d.querySelector("summary").focus(); e.stopPropagation(); }
  });

  // ------------------------------------------------------------------ selection and the bulk bar

  function selectedIds() { return Object.keys(selected).map(Number).filter(function (id) { return byId[id]; }); }

  function drawSelection() {
    var n = selectedIds().length;
    setText(document.getElementById("selected-count"), n ? n + " selected" : "");
    var all = document.getElementById("select-all");
    all.checked = n > 0 && n === items.length;
    all.indeterminate = n > 0 && n < items.length;
    document.querySelectorAll("[data-bulk]").forEach(function (b) { b.setAttribute("aria-disabled", String(!n)); });
  }

  document.getElementById("select-all").addEventListener("change", function (e) {
    selected = {};
    if (e.target.checked) items.forEach(function (i) { selected[i.id] = true; });
    draw();
    announce(e.target.checked ? items.length + " items selected." : "Nothing selected.");
  });

  document.getElementById("bulk-bar").addEventListener("click", function (e) {
    var b = e.target.closest("[data-bulk]");
    if (!b) return;
    var ids = selectedIds();
    if (!ids.length) { announce("Select items first (x, or their check boxes)."); return; }
    var what = b.getAttribute("data-bulk");
    if (what === "snooze") triage("snooze", ids, "1h");
    else if (what === "read") act(ids, { unread: false }, "Marked read");
    else if (what === "unread") act(ids, { unread: true }, "Marked unread");
    else triage(what, ids);
  });

  document.getElementById("all-read").addEventListener("click", function () {
    var all = lib.filterJson(filter);
    all.view = filter.view;
    var shown = items.filter(function (i) { return i.unread; }).map(function (i) { return i.id; });
    api("POST", "/api/stream/items", { all: all, set: { unread: false } }).then(function (r) {
      if (r.status !== 200) { failed(r, "Marking all read"); return; }
      shown.forEach(function (id) { if (byId[id]) { var c = lib.applyChange(byId[id], { unread: false }); items[items.indexOf(byId[id])] = c; byId[id] = c; } });
      draw();
      setCounts(r.counts);
      announce("Marked " + r.changed + " item" + (r.changed === 1 ? "" : "s") + " read.");
    });
  });

  // ------------------------------------------------------------------ filters, views, search

  function drawFilters() {
    document.querySelectorAll(".stream-tabs a").forEach(function (a) {
      var on = a.getAttribute("data-view") === filter.view;
      if (on) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
      var f = { view: a.getAttribute("data-view") };
      Object.keys(filter).forEach(function (k) { if (k !== "view") f[k] = filter[k]; });
      a.setAttribute("href", "/stream" + (lib.filterQuery(f) ? "?" + lib.filterQuery(f) : ""));
    });
    if (search.value !== filter.q && document.activeElement !== search) search.value = filter.q;
    var chips = lib.activeFilters(filter);
    var bar = document.getElementById("filter-bar");
    bar.hidden = !chips.length && !filter.q;
    var ul = document.getElementById("filter-chips");
    var focusKey = document.activeElement && ul.contains(document.activeElement)
      ? document.activeElement.getAttribute("data-chip") : null;
    ul.textContent = "";
    if (filter.q) chips = [{ key: "q", value: filter.q, label: "words: " + filter.q }].concat(chips);
    chips.forEach(function (c) {
      ul.appendChild(el("li", {}, [el("span", { text: c.label }), el("button", {
        type: "button", class: "chip-remove", "data-chip": c.key + "=" + c.value, "aria-label": "Remove filter " + c.label,
        text: "×", onclick: function () {
          var f = c.key === "q" ? Object.assign({}, filter, { q: "" }) : lib.withFilter(filter, c.key, c.value, true);
          changeFilter(f);
        } })]));
    });
    if (focusKey !== null) {
      var b = ul.querySelector("button") || document.getElementById("clear-filters");
      if (b && !bar.hidden) b.focus(); else document.getElementById("stream-title").parentNode.focus && search.focus();
    }
  }

  function changeFilter(f, replaceState) {
    filter = f;
    var q = lib.filterQuery(filter);
    var url = "/stream" + (q ? "?" + q : "");
    if (replaceState) history.replaceState(null, "", url); else history.pushState(null, "", url);
    drawFilters();
    var words = VIEW_NAMES[filter.view] + (lib.activeFilters(filter).length ? ", filtered" : "");
    reload().then(function () {
      announce(words + ": " + items.length + (next ? "+" : "") + " item" + (items.length === 1 ? "" : "s") + ".");
    });
  }

  function clearFilters() { changeFilter({ view: filter.view, q: "" }); search.value = ""; }
  document.getElementById("clear-filters").addEventListener("click", clearFilters);

  document.querySelector(".stream-tabs").addEventListener("click", function (e) {
    var a = e.target.closest("a[data-view]");
    if (!a || e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
    e.preventDefault();
    var f = Object.assign({}, filter, { view: a.getAttribute("data-view") });
    changeFilter(f);
  });

  window.addEventListener("popstate", function () {
    filter = lib.parseFilter(location.search);
    drawFilters();
    reload();
  });

  document.getElementById("stream-search").addEventListener("submit", function (e) {
    e.preventDefault();
    changeFilter(Object.assign({}, filter, { q: search.value.trim() }));
  });

  document.getElementById("filter-form").addEventListener("submit", function (e) {
    e.preventDefault();
    var kind = document.getElementById("filter-kind").value;
    var input = document.getElementById("filter-value");
    var value = input.value.trim();
    if (!value) { input.focus(); return; }
    var key = (document.getElementById("filter-not").checked ? "not_" : "") + kind;
    input.value = "";
    changeFilter(lib.withFilter(filter, key, value));
  });

  // Saved filters: each a link to its URL, with its Atom feed (private, revocable) and a delete button.
  function filterUrl(f) {
    var query = f.query || {};
    var asFilter = lib.parseFilter(lib.filterQuery(Object.assign({ view: query.view || "everything", q: query.q || "" }, query)));
    var q = lib.filterQuery(asFilter);
    return "/stream" + (q ? "?" + q : "");
  }

  var feedUrls = {};  // saved filter id -> the feed address made in this page (the server keeps only a hash)

  function drawSavedFilters(filters) {
    var ul = document.getElementById("saved-filters");
    var focusId = document.activeElement && ul.contains(document.activeElement) ? document.activeElement.id : null;
    ul.textContent = "";
    if (!filters.length) {
      ul.appendChild(el("li", { class: "muted", text: "None yet. Build a filter above, then save it by name." }));
    }
    filters.forEach(function (f) {
      var feed = !!f.feed;
      var url = feed ? feedUrls[f.id] || (typeof f.feed === "string" ? f.feed : null) : null;
      function feedButton(method, text, label, said) {
        // Named "<its words> <the filter>": the visible words start the name (for voice control).
        return el("button", { type: "button", class: "link", id: "feed-" + method.toLowerCase() + "-" + f.id, text: text,
          "aria-label": label + f.name, onclick: function () {
            api(method, "/api/stream/filters/" + encodeURIComponent(f.id) + "/feed").then(function (r) {
              if (r.status >= 300) { failed(r, text); return; }
              if (r.url) feedUrls[f.id] = r.url; else delete feedUrls[f.id];
              announce(said);
              loadSavedFilters();
            });
          } });
      }
      var li = el("li", {}, [
        el("a", { href: filterUrl(f), text: f.name, class: "saved-filter-link" }),
        url ? el("a", { href: url, class: "feed-link", text: "Atom feed", "aria-label": "Atom feed of " + f.name }) : null,
        url ? el("span", { class: "muted small", text: "(private: copy the address now, it is shown once)" }) : null,
        feed && !url ? el("span", { class: "muted small", text: "Atom feed on" }) : null,
        feed ? feedButton("POST", "New feed address", "New feed address for ",
                          "A new feed address was made; the old one no longer works.") : null,
        feedButton(feed ? "DELETE" : "POST", feed ? "Revoke feed" : "Make an Atom feed",
                   feed ? "Revoke feed of " : "Make an Atom feed of ",
                   feed ? "Feed revoked: its address no longer works." : "Feed made: its address is private; revoke it to stop it."),
        el("button", { type: "button", class: "link danger", id: "delete-filter-" + f.id, text: "Delete",
          "aria-label": "Delete filter " + f.name, onclick: function () {
            api("DELETE", "/api/stream/filters/" + encodeURIComponent(f.id)).then(function (r) {
              if (r.status >= 300) { failed(r, "Deleting the filter"); return; }
              announce("Filter " + f.name + " deleted.");
              loadSavedFilters().then(function () { document.getElementById("save-filter-name").focus(); });
            });
          } }),
      ]);
      ul.appendChild(li);
    });
    if (focusId && document.getElementById(focusId)) document.getElementById(focusId).focus();
  }

  function loadSavedFilters() {
    return api("GET", "/api/stream/filters").then(function (r) {
      if (r.status !== 200) {
        drawSavedFilters([]);
        setText(document.getElementById("saved-filters").firstChild, "Saved filters could not be loaded: " + (r.error || r.status) + ".");
        return;
      }
      drawSavedFilters(r.filters || r.items || []);
    });
  }

  document.getElementById("save-filter").addEventListener("submit", function (e) {
    e.preventDefault();
    var name = document.getElementById("save-filter-name");
    var error = document.getElementById("save-filter-error");
    error.textContent = "";
    name.removeAttribute("aria-invalid");
    if (!name.value.trim()) { error.textContent = "Give the filter a name."; name.setAttribute("aria-invalid", "true"); name.focus(); return; }
    var query = lib.filterJson(filter);
    if (filter.view !== "everything") query.view = filter.view;
    api("POST", "/api/stream/filters", { name: name.value.trim(), query: query }).then(function (r) {
      if (r.status >= 300) {
        error.textContent = r.error || "The filter could not be saved.";
        name.setAttribute("aria-invalid", "true");
        name.focus();
        return;
      }
      announce("Filter " + name.value.trim() + " saved.");
      name.value = "";
      loadSavedFilters();
    });
  });

  // ------------------------------------------------------------------ keyboard

  function focusedItemId() {
    var li = document.activeElement && document.activeElement.closest && document.activeElement.closest(".stream-item");
    return li ? Number(li.getAttribute("data-id")) : null;
  }

  function move(step) {
    var all = rows();
    if (!all.length) return;
    var current = document.activeElement && document.activeElement.closest ? document.activeElement.closest(".row") : null;
    var i = all.indexOf(current);
    var to = all[i < 0 ? (step > 0 ? 0 : all.length - 1) : Math.max(0, Math.min(all.length - 1, i + step))];
    to.focus();
    to.scrollIntoView({ block: "nearest" });
  }

  var help = document.getElementById("key-help");
  var keyList = document.getElementById("key-list");
  lib.KEY_HELP.forEach(function (k) { keyList.appendChild(el("dt", {}, [el("kbd", { text: k[0] })])); keyList.appendChild(el("dd", { text: k[1] })); });
  var helpOpener = null;
  document.getElementById("key-help-close").addEventListener("click", function () { help.close(); });
  help.addEventListener("close", function () { if (helpOpener && helpOpener.isConnected) helpOpener.focus(); });

  document.addEventListener("keydown", function (e) {
    var t = e.target;
    // A check box or a button takes no typing: the keys work there (a text field keeps them).
    var tag = t.tagName === "INPUT" && /^(checkbox|radio|button|submit|reset)$/.test(t.type) ? "INPUT-" + t.type : t.tagName;
    var action = lib.keyAction({ key: e.key, ctrlKey: e.ctrlKey, metaKey: e.metaKey, altKey: e.altKey,
                                 tag: tag, editable: t.isContentEditable || (t.closest && !!t.closest("dialog[open]")),
                                 onCard: t.classList && t.classList.contains("stream-item") });
    if (!action) return;
    var id = focusedItemId();
    var ids = selectedIds().length ? selectedIds() : (id !== null ? [id] : []);
    switch (action) {
      case "next": move(1); break;
      case "previous": move(-1); break;
      case "select":
        if (id === null) return;
        var box2 = cards[id].querySelector(".select");
        box2.checked = !box2.checked;
        box2.dispatchEvent(new Event("change", { bubbles: true }));
        announce(box2.checked ? "Selected." : "Unselected.");
        break;
      case "done": triage("done", ids); break;
      case "save": triage("save", ids); break;
      case "unread": triage("unread", ids); break;
      case "open":
        if (id === null) return;
        var link = cards[id].querySelector(".item-link");
        if (link) link.click();
        break;
      case "search": search.focus(); search.select(); break;
      case "help": helpOpener = document.activeElement; help.showModal(); document.getElementById("key-help-close").focus(); break;
      default: return;
    }
    e.preventDefault();
  });

  // ------------------------------------------------------------------ live

  function setLive(state) {
    var was = liveState;
    liveState = state;
    live.className = "live live-" + state;
    live.querySelector(".live-text").textContent = LIVE_TEXT[state];
    document.body.setAttribute("data-live", state);
    var lost = (state === "reconnecting" || state === "offline") && everLive;
    staleNotice.hidden = !lost;
    staleNotice.querySelector("strong").textContent = LIVE_TEXT[state];
    if (state === "live") {
      if (everLive && was !== "live") announce("Reconnected: new items show again.");
      everLive = true;
    } else if (lost && was === "live") {
      announce("Connection lost. Reconnecting.");
    }
  }

  var keepaliveEvery = 0;
  var lastSign = 0;
  var watchdog = null;
  function patience() { return keepaliveEvery * 1000 + Math.max(2000, keepaliveEvery * 1000 / 3); }
  function alive() {
    lastSign = Date.now();
    if (keepaliveEvery) { clearTimeout(watchdog); watchdog = setTimeout(check, patience()); }
  }
  function check() {
    var quiet = Date.now() - lastSign;
    if (quiet < patience()) { watchdog = setTimeout(check, patience() - quiet); return; }
    if (source) source.close();
    setLive("reconnecting");
    lastSign = Date.now();
    connect();
    watchdog = setTimeout(check, patience());
  }

  var newCount = 0;
  function onItem(item) {
    if (byId[item.id]) {  // back from a snooze, or sent again after a cut
      items.splice(items.indexOf(byId[item.id]), 1);
      delete byId[item.id];
    }
    if (!lib.inView(filter.view, item, now())) { draw(); return; }
    var match = lib.matchesFilter(filter, item);
    if (match === false) return;
    if (match === null) {  // only the server can tell (words, hubs): offer to show
      document.getElementById("new-items").hidden = false;
      return;
    }
    items.unshift(item);
    byId[item.id] = item;
    draw();
    newCount += 1;
    var li = cards[item.id];
    if (li) { li.classList.add("arrived"); setTimeout(function () { li.classList.remove("arrived"); }, 1500); }
    clearTimeout(onItem.t);
    onItem.t = setTimeout(function () {
      announce(newCount === 1 ? "1 new item: " + itemLabel(item) : newCount + " new items.");
      newCount = 0;
    }, 300);
  }

  function onChange(change) {
    var ids = (change.ids || []).filter(function (id) { return byId[id]; });
    if (ids.length) applyLocally(ids, change.set || {});
  }

  document.getElementById("show-new").addEventListener("click", function () { reload(); main().focus(); });
  function main() { return document.getElementById("main"); }

  function connect() {
    var url = "/stream/events";
    if (lastId) url += "?last_id=" + encodeURIComponent(lastId);
    var stream = source = new EventSource(url);
    function current() { return stream === source; }
    function track(e) { if (e.lastEventId) lastId = e.lastEventId; alive(); }
    stream.addEventListener("open", function () { if (current()) { alive(); setLive("live"); } });
    stream.addEventListener("hello", function (e) { if (current()) { track(e); setLive("live"); } });
    stream.addEventListener("keepalive", function (e) {
      if (!current()) return;
      try { keepaliveEvery = Number(JSON.parse(e.data).every) || keepaliveEvery; } catch (err) { /* keep */ }
      alive();
      if (liveState !== "live") setLive("live");
    });
    stream.addEventListener("stream-count", function (e) {
      if (!current()) return;
      alive();
      try { setCounts(JSON.parse(e.data)); } catch (err) { console.error("bad stream-count event", err); }
    });
    stream.addEventListener("stream-item", function (e) {
      if (!current()) return;
      track(e);
      try { onItem(JSON.parse(e.data)); } catch (err) { console.error("bad stream-item event", err); }
    });
    stream.addEventListener("stream-change", function (e) {
      if (!current()) return;
      alive();
      try { onChange(JSON.parse(e.data)); } catch (err) { console.error("bad stream-change event", err); }
    });
    var retryDelay = 1000;
    stream.addEventListener("error", function () {
      if (!current()) return;
      if (stream.readyState === EventSource.CONNECTING) { setLive("reconnecting"); return; }
      stream.close();
      setLive("offline");
      setTimeout(function () { if (current()) connect(); }, retryDelay);
      retryDelay = Math.min(retryDelay * 2, 30000);
    });
  }

  // ------------------------------------------------------------------ start

  drawFilters();
  setLive("connecting");
  connect();
  reload(firstPage());
  loadFollows();
  loadSavedFilters();
  window.streamPage = {
    announcements: announced,
    items: function () { return items.slice(); },
    filter: function () { return filter; },
    counts: function () { return counts; },
  };
})();
