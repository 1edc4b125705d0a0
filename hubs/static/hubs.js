// Hubs page script: one EventSource per page, then each widget's JSON.
// Events carry the same payload as /<hub>/<idx>/json; a payload is drawn only
// if its version is newer than what the frame shows.
//
// A redraw changes only what changed (the reader's place, focus and loaded "More" pages stay),
// keeps what is on screen where it was, and is told to screen readers in one polite sentence.
// "Live" means a keep-alive arrived in time: a missed one turns the page to "Reconnecting…".
(function () {
  "use strict";
  var main = document.getElementById("hub");
  if (!main) {
    // A widget on its own (pop-out): only pictures and times need the page's help, and its
    // heading need not link to the page it is on.
    var popout = document.querySelector(".popout");
    if (popout) {
      fixAvatars(popout);
      relativeTimes(popout);
      popout.querySelectorAll(".panel-link").forEach(function (a) { a.replaceWith(a.textContent); });
    }
    return;
  }
  var hub = main.getAttribute("data-hub");
  var drawn = {};          // idx -> version drawn
  var fetching = {};       // idx -> true while its JSON is being fetched
  var source = null;
  var lastId = null;
  var retryDelay = 1000;
  var loadedOnce = false;
  var liveState = "connecting";
  var everLive = false;
  var live = document.getElementById("live");
  var staleNotice = document.getElementById("stale-notice");
  var announcer = document.getElementById("announcer");
  var LIVE_TEXT = { connecting: "Connecting…", live: "Live", reconnecting: "Reconnecting…",
                    offline: "Offline — retrying" };

  // ------------------------------------------------------------------ telling screen readers

  var pending = [];
  var announceTimer = null;
  var announced = [];  // every sentence said, for tests and curious people

  // Sentences said within a short while go out together: one burst of redraws is one announcement.
  function announce(text) {
    if (!text || pending.indexOf(text) >= 0) return;
    pending.push(text);
    clearTimeout(announceTimer);
    announceTimer = setTimeout(flushAnnouncements, 400);
  }

  function flushAnnouncements() {
    var text = pending.join(" ");
    pending = [];
    if (!announcer || !text) return;
    announced.push(text);
    announcer.textContent = "";
    // A change after an empty region is read even when the same sentence comes twice.
    setTimeout(function () { announcer.textContent = text; }, 50);
  }

  // ------------------------------------------------------------------ connection state

  function setLive(state) {
    var was = liveState;
    liveState = state;
    live.className = "live live-" + state;
    live.querySelector(".live-text").textContent = LIVE_TEXT[state];
    document.body.setAttribute("data-live", state);
    var lost = (state === "reconnecting" || state === "offline") && everLive;
    if (staleNotice) {
      staleNotice.hidden = !lost;
      staleNotice.querySelector("strong").textContent = LIVE_TEXT[state];
    }
    markStale(lost);
    if (state === "live") {
      if (everLive && was !== "live") announce("Reconnected: the widgets are up to date again.");
      everLive = true;
    } else if (lost && (was === "live" || was === "connecting")) {
      announce("Connection lost. Reconnecting; the widgets may be out of date.");
    }
  }

  // Each drawn widget says it may be out of date while the connection is lost.
  function markStale(on) {
    var frames = main.querySelectorAll(".widget");
    for (var i = 0; i < frames.length; i++) {
      var el = frames[i];
      var mark = el.querySelector(":scope > .stale-mark");
      var show = on && drawn[el.getAttribute("data-idx")] !== undefined;
      if (show && !mark) {
        mark = document.createElement("p");
        mark.className = "stale-mark";
        mark.textContent = "May be out of date";
        el.insertBefore(mark, bodyOf(el));
      } else if (!show && mark) {
        mark.remove();
      }
    }
  }

  // The server sends a keep-alive event every `every` seconds (15 at most). None within
  // every + grace means the hub cannot be reached, even if the socket looks open (a frozen
  // or partitioned hub): say so and open a new stream, which resumes from the last event id.
  var keepaliveEvery = 0;  // seconds; 0 until the stream said (an older hub never does: no watchdog)
  var lastSign = 0;
  var watchdog = null;

  function patience() { return keepaliveEvery * 1000 + Math.max(2000, keepaliveEvery * 1000 / 3); }

  function alive() {
    lastSign = Date.now();
    if (keepaliveEvery) arm();
  }

  function arm() {
    clearTimeout(watchdog);
    watchdog = setTimeout(check, patience());
  }

  function check() {
    var quiet = Date.now() - lastSign;
    if (quiet < patience()) { watchdog = setTimeout(check, patience() - quiet); return; }
    // Timers of hidden tabs may fire late; only time without a sign of life counts.
    if (source) source.close();
    setLive("reconnecting");
    lastSign = Date.now();
    connect();
    arm();
  }

  // ------------------------------------------------------------------ frames

  function frame(idx) { return document.getElementById("widget-" + idx); }

  function bodyOf(el) {
    var body = el.querySelector(":scope > .widget-body");
    if (!body) {
      body = document.createElement("div");
      body.className = "widget-body";
      while (el.firstChild) body.appendChild(el.firstChild);
      el.appendChild(body);
    }
    return body;
  }

  function titleOf(el) {
    var heading = document.getElementById(el.id + "-title");
    return (heading && heading.textContent.trim()) || el.getAttribute("data-title") || "A widget";
  }

  // Pictures from other sites (avatars, badge art, service icons) may not load:
  // then the initial drawn underneath shows instead of a broken image.
  function fixAvatars(root) {
    var imgs = root.querySelectorAll(".avatar img, .feed-icon img, .badges img");
    for (var i = 0; i < imgs.length; i++) {
      if (imgs[i].complete && imgs[i].naturalWidth === 0 && imgs[i].src) { fallback(imgs[i]); continue; }
      imgs[i].addEventListener("error", function () { fallback(this); });
    }
  }

  function fallback(img) {
    var parent = img.parentNode;
    if (parent && parent.closest && parent.closest(".badges")) {
      var letter = document.createElement("span");
      letter.className = "badge-fallback";
      letter.textContent = (img.getAttribute("alt") || "?").charAt(0);
      parent.replaceChild(letter, img);
    } else {
      img.remove();
    }
  }

  function relativeTimes(root) {
    var now = Date.now() / 1000;
    var times = root.querySelectorAll("time[data-epoch]");
    for (var i = 0; i < times.length; i++) {
      var ago = Math.max(0, Math.round(now - parseFloat(times[i].getAttribute("data-epoch"))));
      var text = ago < 10 ? "just now" : ago < 60 ? ago + " s ago" : ago < 3600 ? Math.floor(ago / 60) + " min ago"
        : ago < 86400 ? Math.floor(ago / 3600) + " h ago"
        : Math.floor(ago / 86400) === 1 ? "yesterday" : Math.floor(ago / 86400) + " days ago";
      if (times[i].textContent !== text) times[i].textContent = text;
      var full = new Date(parseFloat(times[i].getAttribute("data-epoch")) * 1000).toLocaleString();
      if (times[i].title !== full) times[i].title = full;
    }
  }
  setInterval(function () { relativeTimes(main); }, 10000);

  // ------------------------------------------------------------------ changing only what changed

  function keyOf(node) {
    return node.nodeType === 1 ? (node.getAttribute("data-key") || node.id || null) : null;
  }

  function sameKind(a, b) {
    if (a.nodeType !== b.nodeType) return false;
    if (a.nodeType !== 1) return true;
    return a.tagName === b.tagName && keyOf(a) === keyOf(b);
  }

  function morphAttributes(from, to) {
    var i, name;
    for (i = from.attributes.length - 1; i >= 0; i--) {
      name = from.attributes[i].name;
      if (!to.hasAttribute(name) && name !== "title") from.removeAttribute(name);
    }
    for (i = 0; i < to.attributes.length; i++) {
      name = to.attributes[i].name;
      if (from.getAttribute(name) !== to.attributes[i].value) from.setAttribute(name, to.attributes[i].value);
    }
  }

  function morphNode(from, to) {
    if (from.nodeType !== 1) {
      if (from.nodeValue !== to.nodeValue) from.nodeValue = to.nodeValue;
      return;
    }
    // A part the page's scripts own (the Activity widget's search box and its results, data-client): the server
    // sends it empty each time, the page keeps what it drew there.
    if (from.hasAttribute("data-client")) return;
    morphAttributes(from, to);
    // Times show "3 min ago" here, the date in the payload: leave their text to relativeTimes.
    if (from.tagName === "TIME" && from.getAttribute("data-epoch")) return;
    morphChildren(from, to);
  }

  // Make from's children look like to's, keeping (and moving) nodes that are the same.
  function morphChildren(from, to) {
    var f = from.firstChild;
    var t = to.firstChild;
    while (t) {
      var next = t.nextSibling;
      if (f && sameKind(f, t)) {
        morphNode(f, t);
        f = f.nextSibling;
      } else {
        var key = keyOf(t);
        var match = null;
        if (key) {
          for (var c = f; c; c = c.nextSibling) if (keyOf(c) === key && sameKind(c, t)) { match = c; break; }
        }
        if (match) {
          from.insertBefore(match, f);
          morphNode(match, t);
        } else {
          from.insertBefore(t, f);  // moves t out of the new tree
        }
      }
      t = next;
    }
    while (f) { var gone = f; f = f.nextSibling; from.removeChild(gone); }
  }

  // An activity list grows at the top: new items are put above the ones shown, which stay
  // (with the pages "More" loaded and its cursor). Returns how many were added, or -1 when the
  // new list does not continue the shown one (another person's activity, say): then it is redrawn.
  function mergeFeed(oldList, newList) {
    var oldItems = Array.prototype.filter.call(oldList.children, function (n) { return keyOf(n); });
    var newItems = Array.prototype.filter.call(newList.children, function (n) { return keyOf(n); });
    if (!oldItems.length || !newItems.length) return -1;
    var oldKeys = oldItems.map(keyOf);
    var i = 0;
    while (i < newItems.length && oldKeys.indexOf(keyOf(newItems[i])) < 0) i++;
    if (i === newItems.length) return -1;
    for (var j = i; j < newItems.length; j++) if (keyOf(newItems[j]) !== oldKeys[j - i]) return -1;
    for (var k = i - 1; k >= 0; k--) oldList.insertBefore(newItems[k], oldList.firstChild);
    return i;
  }

  // Update a frame's content in place; returns what happened, for the announcement.
  function update(el, html, first) {
    var body = bodyOf(el);
    if (first) { body.innerHTML = html; return { added: -1 }; }  // the placeholder: nothing to keep
    var fresh = document.createElement("template");
    fresh.innerHTML = html;
    var result = { added: -1 };
    var oldList = body.querySelector("ul.feed");
    var newList = fresh.content.querySelector("ul.feed");
    if (oldList && newList) {
      result.added = mergeFeed(oldList, newList);
      if (result.added >= 0) {
        // The shown list (and its "More" button) stand for the new one.
        newList.replaceWith(oldList.cloneNode(true));
        var oldMore = body.querySelector(".feed-more");
        var newMore = fresh.content.querySelector(".feed-more");
        if (newMore && !oldMore) newMore.remove();
        else if (oldMore && newMore) newMore.replaceWith(oldMore.cloneNode(true));
        else if (oldMore && !newMore) oldMore.setAttribute("data-keep", "1");
      }
    }
    var keep = body.querySelector('.feed-more[data-keep="1"]');
    morphChildren(body, fresh.content);
    if (keep && !keep.isConnected) {
      keep.removeAttribute("data-keep");
      var list = body.querySelector("ul.feed");
      if (list) list.parentNode.insertBefore(keep, list.nextSibling);
    }
    return result;
  }

  // ------------------------------------------------------------------ keeping the reader's place

  // What the reader looks at (the focused control, else what is at the top of the screen in
  // the column that changes) and where it is, so that a change above it does not move it.
  function placeOf(column) {
    var focus = document.activeElement;
    var chain = [];
    // At the top of the page with nothing focused there is nothing above to keep (and no layout to force).
    if (window.scrollY === 0 && (!focus || focus === document.body || !main.contains(focus))) return chain;
    if (focus && focus !== document.body && main.contains(focus)) {
      var r = focus.getBoundingClientRect();
      if (r.bottom > 0 && r.top < window.innerHeight) chain.push(focus);
    }
    if (!chain.length) {
      var box = (column || main).getBoundingClientRect();
      if (box.top < 0 && box.bottom > 0) {
        var x = box.left + Math.min(box.width / 2, 40);
        var probe = document.elementFromPoint(x, Math.max(2, Math.min(40, window.innerHeight / 10)));
        while (probe && probe !== main && main.contains(probe)) { chain.push(probe); probe = probe.parentNode; }
      }
    }
    return chain.map(function (node) { return { node: node, top: node.getBoundingClientRect().top }; });
  }

  function keepPlace(place) {
    for (var i = 0; i < place.length; i++) {
      if (!place[i].node.isConnected) continue;
      var moved = place[i].node.getBoundingClientRect().top - place[i].top;
      if (Math.abs(moved) >= 1) window.scrollBy(0, moved);
      return;
    }
  }

  // ------------------------------------------------------------------ drawing

  function draw(payload, liveUpdate) {
    var el = frame(payload.idx);
    if (!el) return false;
    var have = drawn[payload.idx];
    if (have !== undefined && payload.version <= have) return false;
    drawn[payload.idx] = payload.version;
    var focus = document.activeElement;
    var place = placeOf(el.parentNode);
    var result = update(el, payload.html, have === undefined && !el.querySelector(".panel"));
    el.classList.remove("loading");
    el.removeAttribute("aria-busy");
    el.classList.toggle("failed", !!payload.error);
    el.setAttribute("data-version", String(payload.version));
    fixAvatars(el);
    relativeTimes(el);
    if (focus && focus !== document.activeElement && focus.isConnected) focus.focus({ preventScroll: true });
    keepPlace(place);
    el.dispatchEvent(new CustomEvent("hubs:drawn", { bubbles: true, detail: payload }));
    if (liveUpdate && have !== undefined) {
      el.classList.add("changed");
      setTimeout(function () { el.classList.remove("changed"); }, 900);
      var title = titleOf(el);
      if (payload.error) announce(title + ": could not be updated.");
      else if (result.added > 0) {
        // While its search shows results, the live list is hidden: say where the news is.
        announce(title + ": " + result.added + " new item" + (result.added === 1 ? "" : "s") +
                 (el.classList.contains("feed-searching") ? ", shown when the search is cleared." : "."));
      }
      else if (result.added !== 0) announce(title + " updated.");
    }
    return true;
  }

  function showFetchError(idx, message) {
    var el = frame(idx);
    if (!el || drawn[idx] !== undefined) return;
    el.classList.remove("loading");
    el.removeAttribute("aria-busy");
    var body = bodyOf(el);
    // No role=alert: when the hub is unreachable every frame fails at once; one polite sentence says so.
    body.innerHTML = '<div class="panel"><div class="panel-heading"><h2></h2></div>' +
                     '<div class="panel-body"><div class="widget-error"></div></div></div>';
    var heading = body.querySelector("h2");
    heading.id = el.id + "-title";
    heading.textContent = el.getAttribute("data-title") || "Widget";
    var box = body.querySelector(".widget-error");
    box.textContent = message + " ";
    var button = document.createElement("button");
    button.type = "button";
    button.textContent = "Try again";
    button.setAttribute("aria-label", "Try loading " + heading.textContent + " again");
    button.addEventListener("click", function () { load(idx); });
    box.appendChild(button);
    announce("Some widgets could not be loaded; each has a Try again button.");
    el.dispatchEvent(new CustomEvent("hubs:drawn", { bubbles: true }));
  }

  function load(idx) {
    var el = frame(idx);
    if (!el || fetching[idx]) return;
    fetching[idx] = true;
    function done() { delete fetching[idx]; }
    fetch(el.getAttribute("data-url"), { headers: { "Accept": "application/json" } })
      .then(function (r) {
        if (!r.ok) {
          return r.json().catch(function () { return {}; }).then(function (body) {
            throw new Error(body.error || ("The server answered " + r.status + "."));
          });
        }
        return r.json();
      })
      .then(function (payload) { draw(payload, false); })
      .catch(function (err) { showFetchError(idx, "This widget could not be loaded: " + err.message); })
      .then(done, done);
  }

  // Load every frame that shows no payload yet: all of them the first time, and after a
  // reconnect those whose load failed while the hub was unreachable (a fresh stream, with no
  // Last-Event-ID, brings no snapshot).
  function loadMissing() {
    var frames = main.querySelectorAll(".widget");
    for (var i = 0; i < frames.length; i++) {
      var idx = frames[i].getAttribute("data-idx");
      if (drawn[idx] === undefined) load(idx);
    }
  }

  // The same frame as the page's HTML has (hub.html).
  function makeFrame(w) {
    var el = document.createElement("article");
    el.className = "widget loading";
    el.id = "widget-" + w.idx;
    el.setAttribute("data-idx", w.idx);
    el.setAttribute("data-url", w.url);
    el.setAttribute("data-plugin", w.plugin);
    el.setAttribute("data-title", w.title || w.plugin);
    el.setAttribute("aria-labelledby", el.id + "-title");
    el.setAttribute("aria-busy", "true");
    el.tabIndex = -1;
    var body = document.createElement("div");
    body.className = "widget-body";
    var ph = document.createElement("div");
    ph.className = "placeholder";
    var title = document.createElement("h2");
    title.className = "placeholder-title";
    title.id = el.id + "-title";
    title.textContent = w.title || w.plugin;
    var spin = document.createElement("span");
    spin.className = "spinner";
    spin.setAttribute("aria-hidden", "true");
    var said = document.createElement("span");
    said.className = "visually-hidden";
    said.textContent = "Loading…";
    ph.appendChild(title); ph.appendChild(spin); ph.appendChild(said);
    body.appendChild(ph); el.appendChild(body);
    return el;
  }

  function applyLayout(layout) {
    var focus = document.activeElement;
    // Keep the focused control where it is on screen (it moves with its widget); else what is at the top.
    var place = placeOf(null);
    main.style.gridTemplateColumns = "minmax(0, " + layout.hub.left_width + "fr) minmax(0, " + layout.hub.right_width + "fr)";
    var keep = {};
    var added = [];
    var removed = [];
    ["left", "right"].forEach(function (name) {
      var column = main.querySelector('[data-column="' + name + '"]');
      var list = layout.columns[name] || [];
      var here = {};
      list.forEach(function (w) { here[w.idx] = true; });
      // Only frames out of place are moved (moving a node drops the focus from inside it): the walk
      // passes over frames that leave this column, and new ones go before the column's own controls.
      function settle(node) {
        while (node && !(node.classList && node.classList.contains("widget") && here[node.getAttribute("data-idx")])) {
          if (node.classList && !node.classList.contains("widget") && node.nodeType === 1) break;
          node = node.nextSibling;
        }
        return node;
      }
      var anchor = settle(column.firstChild);
      list.forEach(function (w) {
        keep[w.idx] = true;
        var el = frame(w.idx);
        var fresh = !el;
        if (fresh) { el = makeFrame(w); added.push(w.title || w.plugin); }
        if (anchor === el) anchor = settle(anchor.nextSibling);
        else column.insertBefore(el, anchor);
        if (fresh) load(w.idx);
      });
    });
    var frames = main.querySelectorAll(".widget");
    for (var i = 0; i < frames.length; i++) {
      var idx = frames[i].getAttribute("data-idx");
      if (!keep[idx]) { removed.push(titleOf(frames[i])); frames[i].remove(); delete drawn[idx]; }
    }
    var summary = document.querySelector(".hub-summary");
    if (summary && summary.textContent !== layout.hub.summary) summary.textContent = layout.hub.summary;
    var notice = document.getElementById("archived-notice");
    if (layout.hub.archived && !notice) {
      notice = document.createElement("p");
      notice.id = "archived-notice";
      notice.className = "notice";
      notice.textContent = "This hub is archived: it is kept for reference and nobody tends it any more.";
      main.parentNode.insertBefore(notice, staleNotice || main);
    } else if (!layout.hub.archived && notice) {
      notice.remove();
    }
    var avatar = document.querySelector(".hub-avatar");
    if (avatar) {
      var img = avatar.querySelector("img");
      if (layout.hub.avatar) {
        if (!img) { img = document.createElement("img"); img.alt = ""; avatar.appendChild(img); }
        if (img.getAttribute("src") !== layout.hub.avatar) img.setAttribute("src", layout.hub.avatar);
        img.onerror = function () { this.remove(); };
      } else if (img) {
        img.remove();
      }
    }
    if (focus && focus !== document.activeElement && focus.isConnected) focus.focus({ preventScroll: true });
    keepPlace(place);
    if (liveState === "live") {
      added.forEach(function (t) { announce(t + " added."); });
      removed.forEach(function (t) { announce(t + " removed."); });
    }
    document.dispatchEvent(new CustomEvent("hubs:layout", { detail: { layout: layout, focus: focus, removed: removed } }));
  }

  // "More" in paged widgets (activity): fetch the next page and append it. The button stays
  // focusable while it loads (a disabled button would drop the keyboard's focus to the page).
  main.addEventListener("click", function (e) {
    var button = e.target.closest && e.target.closest(".feed-more");
    if (!button || button.getAttribute("aria-disabled") === "true") return;
    var el = button.closest(".widget");
    var list = el.querySelector(".feed");
    var label = button.textContent;
    button.setAttribute("aria-disabled", "true");
    button.textContent = "Loading…";
    fetch("/" + encodeURIComponent(hub) + "/" + el.getAttribute("data-idx") + "/more?cursor=" +
          encodeURIComponent(button.getAttribute("data-cursor")), { headers: { "Accept": "application/json" } })
      .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
      .then(function (page) {
        var first = list.lastElementChild;
        list.insertAdjacentHTML("beforeend", page.html);
        var added = first ? first.nextElementSibling : list.firstElementChild;
        var count = list.children.length - (first ? Array.prototype.indexOf.call(list.children, first) + 1 : 0);
        fixAvatars(list);
        relativeTimes(list);
        button.removeAttribute("aria-disabled");
        if (page.cursor) {
          button.setAttribute("data-cursor", page.cursor);
          button.textContent = label.indexOf("try again") >= 0 ? "More activity" : label;
        } else {
          // Nothing further: the button goes, and the keyboard's place moves to what was loaded.
          var focused = document.activeElement === button;
          button.remove();
          if (focused && added) {
            added.tabIndex = -1;
            added.focus();
          }
        }
        announce(titleOf(el) + ": " + count + " older item" + (count === 1 ? "" : "s") + " loaded" +
                 (page.cursor ? "." : "; that is all."));
      })
      .catch(function () {
        button.removeAttribute("aria-disabled");
        button.textContent = "More activity (try again)";
        announce(titleOf(el) + ": older items could not be loaded.");
      });
  });

  function connect() {
    var url = "/" + encodeURIComponent(hub) + "/events";
    if (lastId) url += "?last_id=" + encodeURIComponent(lastId);
    var stream = source = new EventSource(url);
    function current() { return stream === source; }
    stream.addEventListener("open", function () { if (current()) { retryDelay = 1000; alive(); } });
    stream.addEventListener("hello", function (e) {
      if (!current()) return;
      lastId = e.lastEventId || lastId;
      alive();
      setLive("live");
      loadedOnce = true;
      loadMissing();
    });
    stream.addEventListener("keepalive", function (e) {
      if (!current()) return;
      try { keepaliveEvery = Number(JSON.parse(e.data).every) || keepaliveEvery; } catch (err) { /* keep */ }
      alive();
    });
    stream.addEventListener("widget", function (e) {
      if (!current()) return;
      lastId = e.lastEventId || lastId;
      alive();
      try { draw(JSON.parse(e.data), true); } catch (err) { console.error("bad widget event", err); }
    });
    stream.addEventListener("layout", function (e) {
      if (!current()) return;
      lastId = e.lastEventId || lastId;
      alive();
      try { applyLayout(JSON.parse(e.data)); } catch (err) { console.error("bad layout event", err); }
    });
    // A signed-in visitor's unread count rides on the hub's stream (the header shows it: count.js). Its events
    // carry no id of the hub's own: the widgets' resume mark stays as it is.
    stream.addEventListener("stream-count", function (e) {
      if (!current()) return;
      alive();
      try {
        document.dispatchEvent(new CustomEvent("hubs:stream-count", { detail: JSON.parse(e.data) }));
      } catch (err) { console.error("bad stream-count event", err); }
    });
    stream.addEventListener("error", function () {
      if (!current()) return;
      if (stream.readyState === EventSource.CONNECTING) {
        setLive("reconnecting");
      } else {
        // The browser gave up (the hub answered an error): retry ourselves.
        stream.close();
        setLive("offline");
        setTimeout(function () { if (current()) connect(); }, retryDelay);
        retryDelay = Math.min(retryDelay * 2, 30000);
      }
    });
  }

  setLive("connecting");
  connect();
  // If the stream cannot open at all, still show the widgets.
  setTimeout(function () { if (!loadedOnce) { loadedOnce = true; loadMissing(); } }, 3000);
  window.hubsPage = {
    drawn: drawn,
    lastId: function () { return lastId; },
    announce: announce,
    announcements: announced,
    keepalive: function () { return keepaliveEvery; },
    titleOf: titleOf,
  };
})();
