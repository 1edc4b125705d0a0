// The stream page's saved filters: each a link to its URL, with a private Atom feed (made, renewed, revoked) and
// a delete button; the form that saves the current view and filters by name.
// window.HubsStreamSaved(currentFilter) -> {load}.
(function () {
  "use strict";
  var lib = window.HubsStream;
  var ui = window.HubsStreamUI;
  var el = ui.el, setText = ui.setText, announce = ui.announce, api = ui.api, failed = ui.failed;

  window.HubsStreamSaved = function (currentFilter) {
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
      var filter = currentFilter();
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

    return { load: loadSavedFilters };
  };
})();
