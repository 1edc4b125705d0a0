// The Activity widget's search box: typing searches the widget's people's messages through GET /api/search
// (debounced; an answer to an older text is never drawn), matches highlighted (the API's highlights drawn as text
// and <mark>, never as HTML), "Older results" pages back, Clear (or Escape, or emptying the box) goes back to the
// live feed, which kept updating underneath. What the box says (how many match, nothing matches, an error) is in
// the widget's own frame, in a polite live region. hubs.js leaves the box alone when it redraws the widget
// (data-client); the box's markup is the widget's (hubs/widgets/feed_search.html).
(function () {
  "use strict";
  var lib = window.HubsHubLib;
  if (!lib) return;
  var WAIT_MS = 250;   // after the last key press
  var PAGE = 20;       // results a page
  var runs = new WeakMap();  // a box -> what it is doing

  function stateOf(box) {
    var s = runs.get(box);
    if (!s) {
      s = { timer: null, controller: null, asked: 0, text: "", shown: false, count: 0, next: null };
      runs.set(box, s);
    }
    return s;
  }

  function boxOf(node) { return node && node.closest ? node.closest(".feed-search") : null; }
  function frameOf(box) { return box.closest(".widget") || box.parentNode; }
  function part(box, name) { return box.querySelector(".feed-" + name); }

  function scopeOf(box) {
    var form = box.querySelector("form");
    return { person: form.getAttribute("data-person") || null, hub: form.getAttribute("data-hub") || null };
  }

  function say(box, text, failed) {
    var line = part(box, "search-said");
    line.classList.toggle("feed-search-error", !!failed);
    if (line.textContent !== text) line.textContent = text;
  }

  function busy(box, on) {
    part(box, "search-spinner").hidden = !on;
    var list = part(box, "results");
    if (on) list.setAttribute("aria-busy", "true"); else list.removeAttribute("aria-busy");
  }

  // ------------------------------------------------------------------ asking

  function schedule(box, wait) {
    var s = stateOf(box);
    var input = part(box, "search-q");
    part(box, "search-clear").hidden = !input.value;
    clearTimeout(s.timer);
    s.timer = setTimeout(function () { run(box, false); }, wait);
  }

  function run(box, again) {
    var s = stateOf(box);
    clearTimeout(s.timer);
    var text = lib.searchText(part(box, "search-q").value);
    if (!text) { backToLive(box); return; }
    if (!again && text === s.text && (s.shown || s.controller)) return;  // what is shown (or asked) already
    ask(box, text, null);
  }

  function ask(box, text, before) {
    var s = stateOf(box);
    if (s.controller) s.controller.abort();
    var controller = s.controller = new AbortController();
    var asked = ++s.asked;
    s.text = text;
    frameOf(box).classList.add("feed-searching");
    busy(box, true);
    if (!before) say(box, "Searching\u2026");
    fetch(lib.searchUrl(scopeOf(box), text, PAGE, before),
          { headers: { "Accept": "application/json" }, credentials: "same-origin", signal: controller.signal })
      .then(function (r) {
        return r.json().catch(function () { return {}; }).then(function (body) { return { status: r.status, body: body }; });
      }, function (err) {
        if (err && err.name === "AbortError") throw err;
        return { status: 0, body: {} };
      })
      .then(function (answer) {
        if (asked !== s.asked) return;  // a newer text was asked meanwhile
        s.controller = null;
        busy(box, false);
        if (answer.status !== 200) { failed(box, lib.searchError(answer.status, answer.body), before); return; }
        drawPage(box, text, answer.body, before);
      })
      .catch(function () { /* aborted: a newer text replaced it */ });
  }

  function failed(box, sentence, before) {
    var s = stateOf(box);
    if (!before) {
      s.shown = false;
      part(box, "results").textContent = "";
      part(box, "results").hidden = true;
      part(box, "results-more").hidden = true;
    }
    say(box, sentence + (before ? "" : " (Enter tries again.)"), true);
  }

  function drawPage(box, text, body, before) {
    var s = stateOf(box);
    var list = part(box, "results");
    var more = part(box, "results-more");
    var messages = body.messages || [];
    if (!before) { list.textContent = ""; s.count = 0; }
    var first = null;
    messages.forEach(function (m) {
      var li = result(m);
      if (!first) first = li;
      list.appendChild(li);
    });
    s.count += messages.length;
    s.next = body.next || null;
    s.shown = true;
    list.hidden = s.count === 0;
    var hadFocus = document.activeElement === more;
    more.hidden = !s.next;
    if (hadFocus && more.hidden) {
      // Nothing older: the button goes, and the keyboard's place moves to what was loaded.
      var to = first || part(box, "search-q");
      if (to === first) first.tabIndex = -1;
      to.focus();
    }
    say(box, lib.searchSaid(text, s.count, !!s.next));
  }

  function backToLive(box) {
    var s = stateOf(box);
    var was = s.shown || s.controller || s.text;
    if (s.controller) s.controller.abort();
    s.controller = null;
    s.asked++;
    s.text = "";
    s.shown = false;
    s.next = null;
    busy(box, false);
    part(box, "results").textContent = "";
    part(box, "results").hidden = true;
    part(box, "results-more").hidden = true;
    part(box, "search-clear").hidden = !part(box, "search-q").value;
    frameOf(box).classList.remove("feed-searching");
    say(box, was ? "Showing the latest activity." : "");
  }

  // ------------------------------------------------------------------ one result

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text) node.textContent = text;
    return node;
  }

  function result(m) {
    var li = el("li", "feed-item feed-result");
    var service = String(m.service || "");
    var icon = el("span", "feed-icon");
    icon.setAttribute("data-initial", service.charAt(0).toUpperCase());
    var src = lib.safeLink(m.icon);
    if (src) {
      var img = el("img");
      img.alt = "";
      img.loading = "lazy";
      img.addEventListener("error", function () { img.remove(); });
      img.src = src;
      icon.appendChild(img);
    }
    var text = el("span", "feed-text");
    var href = lib.safeLink(m.link);
    var words = href ? el("a") : el("span");
    if (href) { words.href = href; words.rel = "nofollow noopener"; words.target = "_blank"; }
    lib.highlightParts(m.highlight || m.summary || m.topic).forEach(function (p) {
      words.appendChild(p.marked ? el("mark", "", p.text) : document.createTextNode(p.text));
    });
    var meta = el("span", "feed-meta");
    meta.appendChild(el("span", "tag tag-cat", service));
    meta.appendChild(document.createTextNode(" "));
    var epoch = Date.parse(m.time) / 1000;
    var time = el("time");
    if (isFinite(epoch)) {
      time.setAttribute("datetime", m.time);
      time.setAttribute("data-epoch", String(epoch));
      time.title = new Date(epoch * 1000).toLocaleString();
      var rel = window.HubsStream && window.HubsStream.relativeTime;
      time.textContent = rel ? rel(epoch, Date.now() / 1000) : String(m.time).slice(0, 16).replace("T", " ");
    }
    meta.appendChild(time);
    text.appendChild(words);
    text.appendChild(meta);
    li.appendChild(icon);
    li.appendChild(text);
    return li;
  }

  // ------------------------------------------------------------------ events (one listener each, for every box)

  document.addEventListener("input", function (e) {
    if (!e.target.classList || !e.target.classList.contains("feed-search-q")) return;
    schedule(boxOf(e.target), WAIT_MS);
  });

  document.addEventListener("submit", function (e) {
    var box = boxOf(e.target);
    if (!box) return;
    e.preventDefault();  // Enter searches now (without the script the form goes to /search)
    run(box, true);
  });

  document.addEventListener("keydown", function (e) {
    if (e.key !== "Escape" || !e.target.classList || !e.target.classList.contains("feed-search-q")) return;
    if (!e.target.value) return;
    e.preventDefault();
    e.stopPropagation();
    e.target.value = "";
    run(boxOf(e.target), false);
  });

  document.addEventListener("click", function (e) {
    var button = e.target.closest && e.target.closest(".feed-search-clear, .feed-results-more");
    var box = boxOf(button);
    if (!box) return;
    var s = stateOf(box);
    if (button.classList.contains("feed-search-clear")) {
      var input = part(box, "search-q");
      input.value = "";
      run(box, false);
      input.focus();
    } else if (s.next && !s.controller) {
      ask(box, s.text, s.next);
    }
  });

  // A redraw that took the box away (the widget failed, say) must not leave the live feed hidden.
  document.addEventListener("hubs:drawn", function (e) {
    var frame = e.target;
    if (frame.classList && frame.classList.contains("feed-searching") && !frame.querySelector(".feed-search")) {
      frame.classList.remove("feed-searching");
    }
  });
})();
