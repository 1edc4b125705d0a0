// The stream page (/stream): the signed-in person's items, with why each is there, triage, filters, live.
// Decisions live in streamlib.js (window.HubsStream); stream-ui.js (tools), stream-cards.js (cards and groups),
// stream-live.js (the EventSource) and stream-saved.js (saved filters) are its parts; this file holds the state
// and ties them together: the list, loading, triage, selection, filters and keys.
// The page keeps ONE EventSource (/stream/events): new items (stream-item), triage done elsewhere
// (stream-change) and counts (stream-count). Cards are kept and updated in place (by item id), so the
// focus, the reader's place and the pages "Load more" brought stay when the list changes live.
(function () {
  "use strict";
  var lib = window.HubsStream;
  var box = document.getElementById("stream");
  if (!box || !lib) return;
  var ui = window.HubsStreamUI;
  var el = ui.el, setText = ui.setText, announce = ui.announce, toast = ui.toast, offerUndo = ui.offerUndo,
      api = ui.api, failed = ui.failed;

  var filter = lib.parseFilter(location.search);
  var items = [];            // shown items, newest first (as the API gives them)
  var byId = {};             // id -> item
  var expanded = {};         // group key -> true when opened
  var selected = {};         // id -> true
  var next = null;           // cursor of the next page
  var loading = 0;           // the number of the newest list request
  var follows = {};          // "kind:name" -> true
  var counts = null;
  var list = null;
  var loadMore = document.getElementById("load-more");
  var search = document.getElementById("stream-q");
  var EMPTY = {
    everything: "Nothing here yet. Items about your packages, your groups, the people, packages and hubs you follow, " +
                "and mentions of you will appear here, live.",
    "needs-me": "Nothing needs you. Items about your packages, groups and mentions will appear here.",
    mine: "None of your own actions yet. What you do on Fedora's services (builds, updates, comments) shows here.",
    saved: "Nothing saved. Save an item (s) to keep it here for good.",
    done: "Nothing done yet. Items you mark done (e) move here, out of the other views.",
  };
  var VIEW_NAMES = { everything: "Everything", "needs-me": "Needs me", mine: "My actions", saved: "Saved", done: "Done" };

  function now() { return Date.now() / 1000; }
  var drawing = window.HubsStreamCards({ follows: function () { return follows; },
                                         selected: function () { return selected; },
                                         expanded: function () { return expanded; } });
  var cards = drawing.cards;
  var groups = drawing.groups;
  var cardFor = drawing.cardFor, updateCard = drawing.updateCard, buildGroup = drawing.buildGroup,
      updateGroup = drawing.updateGroup, placeChildren = drawing.placeChildren, itemLabel = drawing.itemLabel;


  // ------------------------------------------------------------------ counts

  function setCounts(c) {
    if (!c) return;
    counts = c;
    document.querySelectorAll(".tab-count").forEach(function (span) {
      var n = c[span.getAttribute("data-count")];
      var some = typeof n === "number" && n > 0;
      // Said with the tab's name: "Needs me 5 unread".
      span.textContent = some ? String(n) + (c.more && span.getAttribute("data-count") === "unread" ? "+" : "") : "";
      if (some) span.appendChild(el("span", { class: "visually-hidden", text: " unread" }));
      span.hidden = !some;
    });
    if (window.hubsCount) window.hubsCount.set(c, true);
    document.title = (c.unread ? "(" + c.unread + ") " : "") + "My stream · Hubs";
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

  // Relative times move on ("3 min ago" → "4 min ago"): every card and group is redrawn every 30 s.
  setInterval(function () {
    Object.keys(cards).forEach(function (id) { if (byId[id]) updateCard(cards[id], byId[id]); });
    lib.groupItems(items).forEach(function (g) {
      var li = g.items.length > 1 && groups[g.key + "\u0000" + g.items[g.items.length - 1].id];
      if (li) updateGroup(li, g, true);
    });
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

  // ------------------------------------------------------------------ live items and changes

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

  // ------------------------------------------------------------------ start

  var saved = window.HubsStreamSaved(function () { return filter; });
  var live = window.HubsStreamLive({ onItem: onItem, onChange: onChange, onCounts: setCounts });
  drawFilters();
  live.connect();
  reload(firstPage());
  loadFollows();
  saved.load();
  window.streamPage = {
    announcements: ui.announced,
    items: function () { return items.slice(); },
    filter: function () { return filter; },
    counts: function () { return counts; },
    draw: draw,  // for bench/stream_page.py: what one redraw of the list costs
  };
})();
