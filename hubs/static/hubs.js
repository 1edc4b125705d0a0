// Hubs page script: one EventSource per page, then each widget's JSON.
// Events carry the same payload as /<hub>/<idx>/json; a payload is drawn only
// if its version is newer than what the frame shows.
(function () {
  "use strict";
  var main = document.getElementById("hub");
  if (!main) {
    // A widget on its own (pop-out): only pictures and times need the page's help.
    var popout = document.querySelector(".popout");
    if (popout) { fixAvatars(popout); relativeTimes(popout); }
    return;
  }
  var hub = main.getAttribute("data-hub");
  var drawn = {};          // idx -> version drawn
  var fetching = {};       // idx -> true while its JSON is being fetched
  var source = null;
  var lastId = null;
  var retryDelay = 1000;
  var loadedOnce = false;
  var live = document.getElementById("live");

  function setLive(state, text) {
    live.className = "live live-" + state;
    live.querySelector(".live-text").textContent = text;
    document.body.setAttribute("data-live", state);
  }

  function frame(idx) { return document.getElementById("widget-" + idx); }

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
      times[i].textContent = text;
      times[i].title = new Date(parseFloat(times[i].getAttribute("data-epoch")) * 1000).toLocaleString();
    }
  }
  setInterval(function () { relativeTimes(main); }, 10000);

  function draw(payload, highlight) {
    var el = frame(payload.idx);
    if (!el) return false;
    var have = drawn[payload.idx];
    if (have !== undefined && payload.version <= have) return false;
    drawn[payload.idx] = payload.version;
    el.innerHTML = payload.html;
    el.classList.remove("loading");
    el.removeAttribute("aria-busy");
    el.classList.toggle("failed", !!payload.error);
    el.setAttribute("data-version", String(payload.version));
    fixAvatars(el);
    relativeTimes(el);
    el.dispatchEvent(new CustomEvent("hubs:drawn", { bubbles: true, detail: payload }));
    if (highlight) {
      el.classList.add("changed");
      setTimeout(function () { el.classList.remove("changed"); }, 900);
    }
    return true;
  }

  function showFetchError(idx, message) {
    var el = frame(idx);
    if (!el || drawn[idx] !== undefined) return;
    el.classList.remove("loading");
    el.removeAttribute("aria-busy");
    el.innerHTML = '<div class="panel"><div class="panel-body"><div class="widget-error" role="alert"></div></div></div>';
    var box = el.querySelector(".widget-error");
    box.textContent = message + " ";
    var button = document.createElement("button");
    button.textContent = "Try again";
    button.addEventListener("click", function () { load(idx); });
    box.appendChild(button);
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

  function makeFrame(w) {
    var el = document.createElement("article");
    el.className = "widget loading";
    el.id = "widget-" + w.idx;
    el.setAttribute("data-idx", w.idx);
    el.setAttribute("data-url", w.url);
    el.setAttribute("data-plugin", w.plugin);
    el.setAttribute("aria-busy", "true");
    var ph = document.createElement("div");
    ph.className = "placeholder";
    var title = document.createElement("span");
    title.className = "placeholder-title";
    title.textContent = w.title;
    var spin = document.createElement("span");
    spin.className = "spinner";
    ph.appendChild(title); ph.appendChild(spin); el.appendChild(ph);
    return el;
  }

  function applyLayout(layout) {
    main.style.gridTemplateColumns = "minmax(0, " + layout.hub.left_width + "fr) minmax(0, " + layout.hub.right_width + "fr)";
    var keep = {};
    ["left", "right"].forEach(function (name) {
      var column = main.querySelector('[data-column="' + name + '"]');
      (layout.columns[name] || []).forEach(function (w) {
        keep[w.idx] = true;
        var el = frame(w.idx);
        var fresh = !el;
        if (fresh) el = makeFrame(w);
        column.appendChild(el);  // appending an existing node moves it: this orders the column
        if (fresh) load(w.idx);
      });
    });
    var frames = main.querySelectorAll(".widget");
    for (var i = 0; i < frames.length; i++) {
      var idx = frames[i].getAttribute("data-idx");
      if (!keep[idx]) { frames[i].remove(); delete drawn[idx]; }
    }
    var summary = document.querySelector(".hub-header .muted");
    if (summary) summary.textContent = layout.hub.summary;
    var notice = document.getElementById("archived-notice");
    if (layout.hub.archived && !notice) {
      notice = document.createElement("p");
      notice.id = "archived-notice";
      notice.className = "notice";
      notice.textContent = "This hub is archived: it is kept for reference and nobody tends it any more.";
      main.parentNode.insertBefore(notice, main);
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
    document.dispatchEvent(new CustomEvent("hubs:layout", { detail: layout }));
  }

  // "More" in paged widgets (activity): fetch the next page and append it.
  main.addEventListener("click", function (e) {
    var button = e.target.closest && e.target.closest(".feed-more");
    if (!button) return;
    var frame = button.closest(".widget");
    var list = frame.querySelector(".feed");
    button.disabled = true;
    button.textContent = "Loading…";
    fetch("/" + encodeURIComponent(hub) + "/" + frame.getAttribute("data-idx") + "/more?cursor=" +
          encodeURIComponent(button.getAttribute("data-cursor")), { headers: { "Accept": "application/json" } })
      .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
      .then(function (page) {
        list.insertAdjacentHTML("beforeend", page.html);
        fixAvatars(list);
        relativeTimes(list);
        if (page.cursor) {
          button.setAttribute("data-cursor", page.cursor);
          button.disabled = false;
          button.textContent = "More";
        } else {
          button.remove();
        }
      })
      .catch(function () { button.disabled = false; button.textContent = "More (try again)"; });
  });

  function connect() {
    var url = "/" + encodeURIComponent(hub) + "/events";
    if (lastId) url += "?last_id=" + encodeURIComponent(lastId);
    source = new EventSource(url);
    source.addEventListener("open", function () { retryDelay = 1000; });
    source.addEventListener("hello", function (e) {
      lastId = e.lastEventId || lastId;
      setLive("live", "Live");
      loadedOnce = true;
      loadMissing();
    });
    source.addEventListener("widget", function (e) {
      lastId = e.lastEventId || lastId;
      try { draw(JSON.parse(e.data), true); } catch (err) { console.error("bad widget event", err); }
    });
    source.addEventListener("layout", function (e) {
      lastId = e.lastEventId || lastId;
      try { applyLayout(JSON.parse(e.data)); } catch (err) { console.error("bad layout event", err); }
    });
    source.addEventListener("error", function () {
      if (source.readyState === EventSource.CONNECTING) {
        setLive("reconnecting", "Reconnecting…");
      } else {
        // The browser gave up (the hub answered an error): retry ourselves.
        source.close();
        setLive("offline", "Offline — retrying");
        setTimeout(connect, retryDelay);
        retryDelay = Math.min(retryDelay * 2, 30000);
      }
    });
  }

  setLive("connecting", "Connecting…");
  connect();
  // If the stream cannot open at all, still show the widgets.
  setTimeout(function () { if (!loadedOnce) { loadedOnce = true; loadMissing(); } }, 3000);
  window.hubsPage = { drawn: drawn, lastId: function () { return lastId; } };
})();
