// The list of hubs: "More hubs" loads the next page in place (without JavaScript it is a plain link to it).
// While it loads the link says so and spins; the new hubs are added below those shown, the focus goes to the
// first of them and one polite sentence says how many came; a failure is said in words beside the link,
// which stays, to try again.
(function () {
  "use strict";
  var more = document.getElementById("more-hubs");
  var status = document.getElementById("more-status");
  var list = document.getElementById("hub-cards");
  if (!more || !status || !list) return;
  var LABELS = { own: "Your hub", owner: "Owner", member: "Member", subscriber: "Subscribed", stargazer: "Starred",
                 active: "Active" };
  var loading = false;

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") node.textContent = attrs[k]; else node.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) { node.appendChild(c); });
    return node;
  }

  // The same card as the server's (templates/index.html); every text goes in as text, never as HTML.
  function card(h) {
    var tags = (h.kind === "user" ? "Person" : "Team") + (h.reason ? " · " + LABELS[h.reason] : "") +
               (h.archived ? " · Archived" : "");
    return el("li", { class: h.archived ? "card archived" : "card" }, [
      el("a", { href: "/" + encodeURIComponent(h.name) }, [
        el("span", { class: "card-avatar", "aria-hidden": "true", text: h.name.slice(0, 1).toUpperCase() }),
        el("span", { class: "card-text" }, [
          el("strong", { text: h.name }),
          el("span", { class: "card-summary", text: h.summary || "No summary yet." }),
          el("span", { class: "card-tags", text: tags }),
        ]),
        el("span", { class: "card-count", text: h.widgets + (h.widgets === 1 ? " widget" : " widgets") }),
      ]),
    ]);
  }

  function announce(message) {
    var box = document.getElementById("announcer");
    if (box) box.textContent = message;
  }

  function busy(on) {
    loading = on;
    more.setAttribute("aria-busy", String(on));
    more.classList.toggle("loading", on);
    more.textContent = on ? "Loading more hubs…" : "More hubs";
    if (on) more.insertBefore(el("span", { class: "spinner small-spinner", "aria-hidden": "true" }), more.firstChild);
  }

  function failed(message) {
    status.className = "more-status error";
    status.textContent = "The next hubs could not be loaded: " + message + " Press “More hubs” to try again.";
  }

  more.addEventListener("click", function (event) {
    event.preventDefault();
    if (loading) return;
    var page = new URL(more.href, location.href);
    status.className = "more-status";
    status.textContent = "";
    busy(true);
    fetch("/api/hubs" + page.search, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (r) {
        return r.json().catch(function () { return {}; }).then(function (body) {
          if (!r.ok) throw new Error(body.error || "Hubs answered " + r.status + ".");
          return body;
        });
      }, function () { throw new Error("Hubs cannot be reached; check the connection."); })
      .then(function (body) {
        busy(false);
        var first = null;
        body.hubs.forEach(function (h) {
          var item = list.appendChild(card(h));
          first = first || item.querySelector("a");
        });
        var n = body.hubs.length;
        if (body.next) {
          page.searchParams.set("cursor", body.next);
          more.href = page.pathname + page.search;
        } else {
          more.remove();
        }
        if (!first && !body.next) first = list.querySelector("li:last-child a");  // the link that had it is gone
        if (first) first.focus();
        announce((n === 1 ? "1 more hub" : n + " more hubs") + " listed." + (body.next ? "" : " That is all of them."));
      })
      .catch(function (e) {
        busy(false);
        failed(e.message);
      });
  });
})();
