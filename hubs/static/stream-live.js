// The stream page's one EventSource (/stream/events) and its state for people ("Live", "Reconnecting…").
// A keep-alive that does not come in time means the hub cannot be reached, even if the socket looks open:
// the page says so and opens a new stream, which resumes after the last item id (Last-Event-ID, or last_id).
// window.HubsStreamLive({onItem, onChange, onCounts}) -> {connect, state}.
(function () {
  "use strict";
  var ui = window.HubsStreamUI;
  var announce = ui.announce;
  var LIVE_TEXT = { connecting: "Connecting…", live: "Live", reconnecting: "Reconnecting…", offline: "Offline — retrying" };

  window.HubsStreamLive = function (on) {
    var live = document.getElementById("live");
    var staleNotice = document.getElementById("stale-notice");
    var source = null;
    var lastId = null;
    var liveState = "connecting";
    var everLive = false;
    var retryDelay = 1000;

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

    function connect() {
      var url = "/stream/events";
      if (lastId) url += "?last_id=" + encodeURIComponent(lastId);
      var stream = source = new EventSource(url);
      function current() { return stream === source; }
      function track(e) { if (e.lastEventId) lastId = e.lastEventId; alive(); }
      stream.addEventListener("open", function () { if (current()) { retryDelay = 1000; alive(); setLive("live"); } });
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
        try { on.onCounts(JSON.parse(e.data)); } catch (err) { console.error("bad stream-count event", err); }
      });
      stream.addEventListener("stream-item", function (e) {
        if (!current()) return;
        track(e);
        try { on.onItem(JSON.parse(e.data)); } catch (err) { console.error("bad stream-item event", err); }
      });
      stream.addEventListener("stream-change", function (e) {
        if (!current()) return;
        alive();
        try { on.onChange(JSON.parse(e.data)); } catch (err) { console.error("bad stream-change event", err); }
      });
      stream.addEventListener("error", function () {
        if (!current()) return;
        if (stream.readyState === EventSource.CONNECTING) { setLive("reconnecting"); return; }
        stream.close();
        setLive("offline");
        setTimeout(function () { if (current()) connect(); }, retryDelay);
        retryDelay = Math.min(retryDelay * 2, 30000);
      });
    }

    setLive("connecting");
    return { connect: connect, state: function () { return liveState; } };
  };
})();
