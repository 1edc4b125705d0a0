// Hubs page, people part: who is here (log in / out), their own actions on the hub
// (subscribe, star, join), and, for the hub's owners, editing in place: widget settings
// drawn from each widget's declared arguments, add, move, remove, hub settings.
// The server checks every write; these controls are only shown to those it will allow.
//
// Keyboard and screen reader users keep their place: controls are updated in place rather than
// drawn again (a control that is removed takes the focus with it), focus returns to the control
// that was used (or goes to the widget it moved), and every change is said in the page's live regions.
(function () {
  "use strict";
  var main = document.getElementById("hub");
  var hub = main ? main.getAttribute("data-hub") : null;
  var me = null;
  var catalogue = null;
  var layoutScript = document.getElementById("hub-layout");
  var layout = layoutScript ? JSON.parse(layoutScript.textContent) : null;
  var afterRemove = null;  // where the focus goes once a removed widget is gone: {frame, next}
  var dialogCount = 0;

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") node.textContent = attrs[k];
      else if (k.slice(0, 2) === "on") node.addEventListener(k.slice(2), attrs[k]);
      else node.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) { if (c) node.appendChild(c); });
    return node;
  }

  function api(method, url, body, retried) {
    var headers = { "Accept": "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (me && me.csrf) headers["X-CSRF-Token"] = me.csrf;
    return fetch(url, { method: method, headers: headers, credentials: "same-origin",
                        body: body === undefined ? undefined : JSON.stringify(body) })
      .then(function (r) {
        return r.json().catch(function () { return {}; }).then(function (data) {
          data.status = r.status;
          // Logged in again in another tab: the session (and its CSRF token) changed. Re-read it, retry once.
          if (r.status === 403 && !retried && method !== "GET" && /CSRF/.test(data.error || "")) {
            return fetch("/api/me" + (hub ? "?hub=" + encodeURIComponent(hub) : ""), { credentials: "same-origin" })
              .then(function (m) { return m.json(); })
              .then(function (fresh) { me = fresh; return api(method, url, body, true); });
          }
          return data;
        });
      });
  }

  // The toast's live region is in the page from the start (base.html): it is read when its text changes.
  function toast(message, kind) {
    var box = document.getElementById("toast") ||
      document.body.appendChild(el("div", { id: "toast", class: "toast", role: "status", "aria-live": "polite" }));
    box.textContent = message;
    box.className = "toast show " + (kind || "");
    clearTimeout(box._t);
    box._t = setTimeout(function () { box.className = "toast"; box.textContent = ""; }, 3500);
  }

  // Said to screen readers only (the hub page's polite region; hubs.js groups what comes together).
  function announce(message) {
    if (window.hubsPage && window.hubsPage.announce) { window.hubsPage.announce(message); return; }
    var box = document.getElementById("announcer");
    if (box) box.textContent = message;
  }

  function widgetName(frame) {
    if (window.hubsPage && window.hubsPage.titleOf) return window.hubsPage.titleOf(frame);
    var heading = frame.querySelector(".panel-heading h2, .placeholder-title");
    return heading ? heading.textContent.trim() : "this widget";
  }

  // Redraw a box of controls, then put the focus back on the control of the same id.
  function keepingFocus(box, redraw) {
    var active = document.activeElement;
    var id = active && box && box.contains(active) ? active.id : null;
    redraw();
    if (id && document.activeElement !== document.getElementById(id)) {
      var again = document.getElementById(id);
      if (again) again.focus();
    }
  }

  // ---------------------------------------------------------------- who is here

  // Two loads can overlap (a layout event, then a click's own reload): only the newest answer is drawn, so an
  // older answer arriving last never undoes what the person just did (Star → Starred → back to Star).
  var meAsked = 0;
  function loadMe() {
    var ask = ++meAsked;
    return api("GET", "/api/me" + (hub ? "?hub=" + encodeURIComponent(hub) : "")).then(function (data) {
      if (ask !== meAsked) return;
      me = data;
      drawAccount();
      drawAdminTools();
      drawHubActions();
      decorateAll();
      // Who is here, for the header's unread count (count.js) and the stream page (stream.js).
      window.hubsMe = me;
      window.hubsApi = api;  // other scripts of the page (follow.js) ask through the same helper
      document.dispatchEvent(new CustomEvent("hubs:me", { detail: me }));
    });
  }

  function drawAccount() {
    var bar = document.querySelector(".topbar");
    var old = document.getElementById("account");
    if (old) { keepingFocus(old, function () { old.remove(); drawAccountBox(bar); }); return; }
    drawAccountBox(bar);
  }

  function drawAccountBox(bar) {
    var box = el("span", { id: "account", class: "account" });
    if (me.username) {
      box.appendChild(el("a", { href: "/" + me.username, class: "account-name", text: me.username }));
      if (me.via === "session") {
        box.appendChild(el("button", { type: "button", id: "log-out", class: "link", text: "Log out", onclick: function () {
          api("POST", "/logout").then(function () { location.reload(); });
        } }));
      }
    } else if (me.login) {
      box.appendChild(el("a", { href: "/login?next=" + encodeURIComponent(location.pathname), class: "login",
                                id: "log-in", text: "Log in" }));
    }
    var live = document.getElementById("live");
    if (live) bar.insertBefore(box, live); else bar.appendChild(box);
  }

  var ACTIONS = [["subscriber", "subscribe", "unsubscribe", "Subscribe", "Subscribed"],
                 ["stargazer", "star", "unstar", "Star", "Starred"],
                 ["member", "join", "leave", "Join", "Member"]];
  var SAID = { subscriber: ["Subscribed to this hub.", "Unsubscribed from this hub."],
               stargazer: ["Starred this hub.", "Star taken off this hub."],
               member: ["You are a member of this hub now.", "You left this hub."] };

  // Site admins: create team hubs from the list of hubs.
  function drawAdminTools() {
    var intro = document.querySelector(".directory .intro");
    var old = document.getElementById("new-hub");
    if (old) { if (!me.is_admin) old.remove(); return; }
    if (!intro || !me.is_admin) return;
    intro.appendChild(el("button", { type: "button", id: "new-hub", class: "primary", text: "New team hub",
                                     onclick: function () {
      var args = [
        { name: "name", label: "Name", help: "Lowercase letters, digits, - _ . — it becomes the address.", kind: "text" },
        { name: "summary", label: "Summary", help: "One line about the team.", kind: "text" },
        { name: "owners", label: "Owners", help: "Account names, separated by commas (they must have logged in once).",
          kind: "text" },
      ];
      dialog("New team hub", args.map(function (a) { return fieldFor(a, ""); }), "Create", function (form, showErrors) {
        var body = {};
        args.forEach(function (a) { body[a.name] = readField(form.querySelector('[name="' + a.name + '"]')); });
        body.owners = body.owners.split(",").map(function (o) { return o.trim(); }).filter(Boolean);
        api("POST", "/api/hubs", body).then(function (r) {
          if (r.status === 201) location.href = "/" + r.hub.name; else showErrors(r);
        });
      });
    } }));
  }

  function drawHubActions() {
    var header = document.querySelector(".hub-header");
    if (!header || !me.hub) return;
    var old = document.getElementById("hub-actions");
    keepingFocus(old, function () {
      if (old) old.remove();
      header.appendChild(hubActions());
    });
  }

  function hubActions() {
    var box = el("div", { id: "hub-actions", class: "hub-actions" });
    var ownHub = me.username === hub && me.hub.roles.indexOf("owner") >= 0;
    if (me.username && !ownHub) {
      ACTIONS.forEach(function (a) {
        var has = me.hub.roles.indexOf(a[0]) >= 0;
        if (a[0] === "member" && !has && (!me.hub.can_join || me.hub.roles.indexOf("owner") >= 0)) return;
        box.appendChild(el("button", { type: "button", id: "action-" + a[0], class: has ? "toggle on" : "toggle",
                                       "aria-pressed": String(has), text: has ? a[4] : a[3], onclick: function () {
          api("POST", "/api/hub/" + encodeURIComponent(hub) + "/" + (has ? a[2] : a[1])).then(function (r) {
            if (r.status >= 400) toast(r.error || "That did not work.", "bad");
            else announce(SAID[a[0]][has ? 1 : 0]);
            loadMe();
          });
        } }));
      });
    }
    if (me.hub.can_edit) {
      var editing = document.body.classList.contains("editing");
      box.appendChild(el("button", { type: "button", id: "edit-toggle", class: "primary",
                                     text: editing ? "Done" : "Edit hub", onclick: toggleEditing }));
      if (editing) {
        box.appendChild(el("button", { type: "button", id: "hub-settings", class: "link", text: "Hub settings",
                                       onclick: hubSettings }));
        box.appendChild(el("button", { type: "button", id: "fill-history", class: "link", text: "Fill history",
                                       onclick: fillHistory }));
      }
    }
    return box;
  }

  // ---------------------------------------------------------------- editing

  function toggleEditing() {
    var editing = document.body.classList.toggle("editing");
    drawHubActions();
    decorateAll();
    announce(editing ? "Editing this hub: each widget has its own buttons to change, move or remove it."
                     : "Done editing.");
  }

  function canEdit() { return me && me.hub && me.hub.can_edit && document.body.classList.contains("editing"); }

  // Edit controls are added once and then only updated, so that a focused one stays focused.
  function decorateAll() {
    if (!main) return;
    var frames = main.querySelectorAll(".widget");
    for (var i = 0; i < frames.length; i++) decorate(frames[i]);
    var editing = canEdit();
    document.body.classList.toggle("can-drag", editing);
    main.querySelectorAll(".column").forEach(function (column) {
      var add = column.querySelector(":scope > .add-widget");
      if (!editing) { if (add) add.remove(); return; }
      var name = column.getAttribute("data-column");
      if (!add) {
        add = el("button", { type: "button", class: "add-widget", id: "add-widget-" + name,
                             "aria-label": "Add a widget to the " + name + " column", text: "+ Add a widget",
                             onclick: function () { addWidget(name, add); } });
      }
      if (column.lastElementChild !== add) column.appendChild(add);  // keeps the focus if it is already last
    });
    if (afterRemove && !afterRemove.frame.isConnected) {
      var next = afterRemove.next;
      afterRemove = null;
      if (next && next.isConnected) next.focus();
    }
  }

  function columnName(name) { return name === "left" ? "left" : "right"; }

  function frames(column) {
    return Array.prototype.slice.call(column.querySelectorAll(":scope > .widget"));
  }

  // The move request the buttons and drag-and-drop both send. The hub's version is the layout the
  // owner was looking at.
  function moveWidget(frame, column, position) {
    var idx = frame.getAttribute("data-idx");
    var name = widgetName(frame);
    var body = { column: column, position: position };
    if (layout && layout.hub && layout.hub.version != null) body.version = layout.hub.version;
    return api("POST", "/" + encodeURIComponent(hub) + "/" + idx + "/move", body).then(function (r) {
      if (r.status >= 400) { report(r); return; }
      var where = r.widget || body;
      var total = frames(main.querySelector('[data-column="' + where.column + '"]')).length;
      if (frame.parentNode && frame.parentNode.getAttribute("data-column") !== where.column) total += 1;
      announce(name + " moved: " + ordinal(where.position + 1) + " of " + Math.max(total, where.position + 1) +
               " in the " + columnName(where.column) + " column.");
    });
  }

  function ordinal(n) {
    var s = ["th", "st", "nd", "rd"], v = n % 100;
    return n + (s[(v - 20) % 10] || s[v] || s[0]);
  }

  function decorate(frame) {
    var bar = frame.querySelector(":scope > .edit-bar");
    if (!canEdit()) {
      if (bar) bar.remove();
      frame.removeAttribute("data-can-drag");
      return;
    }
    var name = widgetName(frame);
    var column = frame.parentNode.getAttribute("data-column");
    var other = column === "left" ? "right" : "left";
    var siblings = frames(frame.parentNode);
    var place = siblings.indexOf(frame);
    if (!bar) {
      bar = el("div", { class: "edit-bar", role: "toolbar" }, [
        el("span", { class: "drag-handle", draggable: "true", "aria-hidden": "true", text: "⠿ Drag" }),
        el("button", { type: "button", "data-action": "settings", text: "✎ Settings",
                       onclick: function () { editWidget(frame.getAttribute("data-idx")); } }),
        el("button", { type: "button", "data-action": "up", text: "↑", onclick: function () { step(frame, -1); } }),
        el("button", { type: "button", "data-action": "down", text: "↓", onclick: function () { step(frame, 1); } }),
        el("button", { type: "button", "data-action": "across", text: "⇄", onclick: function () {
          var target = frame.parentNode.getAttribute("data-column") === "left" ? "right" : "left";
          moveWidget(frame, target, 0);
        } }),
        el("button", { type: "button", "data-action": "remove", class: "danger", text: "Remove",
                       onclick: function () { removeWidget(frame); } }),
      ]);
      bar.querySelector(".drag-handle").addEventListener("dragstart", function (e) { startDrag(e, frame); });
      bar.querySelector(".drag-handle").addEventListener("dragend", endDrag);
      rove(bar);
      frame.insertBefore(bar, frame.firstChild);
    }
    // Names say which widget each button acts on (a page has many "Move up" buttons).
    bar.setAttribute("aria-label", "Edit " + name);
    label(bar, "settings", name + " settings", "Settings");
    label(bar, "up", "Move " + name + " up", "Move up", place === 0);
    label(bar, "down", "Move " + name + " down", "Move down", place === siblings.length - 1);
    label(bar, "across", "Move " + name + " to the " + other + " column", "Move to the " + other + " column");
    label(bar, "remove", "Remove " + name, "Remove");
    bar.querySelector(".drag-handle").title = "Drag to move " + name;
  }

  // A toolbar is one Tab stop: the arrow keys, Home and End move between its buttons, and Tab comes back
  // to the one used last (the roving tabindex of the WAI-ARIA toolbar pattern).
  function rove(bar) {
    var buttons = Array.prototype.slice.call(bar.querySelectorAll("button"));
    buttons.forEach(function (b, i) { b.tabIndex = i === 0 ? 0 : -1; });
    bar.addEventListener("focusin", function (e) {
      if (buttons.indexOf(e.target) < 0) return;
      buttons.forEach(function (b) { b.tabIndex = b === e.target ? 0 : -1; });
    });
    bar.addEventListener("keydown", function (e) {
      var at = buttons.indexOf(document.activeElement);
      if (at < 0) return;
      var to = { ArrowRight: at + 1, ArrowLeft: at - 1, Home: 0, End: buttons.length - 1 }[e.key];
      if (to === undefined) return;
      e.preventDefault();
      buttons[(to + buttons.length) % buttons.length].focus();
    });
  }

  // aria-disabled, not disabled: a disabled button cannot hold the focus, which would fall to the page.
  function label(bar, action, name, tip, off) {
    var button = bar.querySelector('[data-action="' + action + '"]');
    if (button.getAttribute("aria-label") !== name) button.setAttribute("aria-label", name);
    if (button.title !== tip) button.title = tip;
    if (off) button.setAttribute("aria-disabled", "true"); else button.removeAttribute("aria-disabled");
  }

  function step(frame, delta) {
    var siblings = frames(frame.parentNode);
    var position = siblings.indexOf(frame) + delta;
    if (position < 0 || position >= siblings.length) return;
    moveWidget(frame, frame.parentNode.getAttribute("data-column"), position);
  }

  function removeWidget(frame) {
    var name = widgetName(frame);
    if (!confirm("Remove \u201c" + name + "\u201d from this hub? Its settings are lost.")) return;
    // Once it is gone, the keyboard's place is the widget that took its place (or the one above, or "Add").
    var column = frame.parentNode;
    var siblings = frames(column);
    var at = siblings.indexOf(frame);
    var next = siblings[at + 1] || siblings[at - 1] || column.querySelector(".add-widget");
    afterRemove = { frame: frame, next: next };
    api("POST", "/" + encodeURIComponent(hub) + "/" + frame.getAttribute("data-idx") + "/delete").then(function (r) {
      if (r.status >= 400) { afterRemove = null; report(r); return; }
      if (!frame.isConnected) decorateAll();  // the layout event came first
    });
  }

  // ---------------------------------------------------------------- drag and drop (the mouse's way;
  // the buttons above are the keyboard's)

  var dragging = null;
  var indicator = el("div", { class: "drop-indicator", "aria-hidden": "true" });

  function startDrag(e, frame) {
    dragging = frame;
    e.dataTransfer.effectAllowed = "move";
    e.dataTransfer.setData("text/plain", widgetName(frame));
    try { e.dataTransfer.setDragImage(frame, 24, 16); } catch (err) { /* the handle's own image */ }
    frame.classList.add("dragging");
  }

  function endDrag() {
    if (dragging) dragging.classList.remove("dragging");
    dragging = null;
    indicator.remove();
    main.querySelectorAll(".drop-target").forEach(function (c) { c.classList.remove("drop-target"); });
  }

  // Where a drop at height y lands: the number of the column's other widgets whose middle is above it.
  function dropPosition(column, y) {
    var others = frames(column).filter(function (f) { return f !== dragging; });
    for (var i = 0; i < others.length; i++) {
      var r = others[i].getBoundingClientRect();
      if (y < r.top + r.height / 2) return { position: i, before: others[i] };
    }
    return { position: others.length, before: column.querySelector(":scope > .add-widget") };
  }

  function dropColumn(e) {
    var column = e.target.closest && e.target.closest(".column");
    return column && main.contains(column) ? column : null;
  }

  if (main) {
    main.addEventListener("dragover", function (e) {
      var column = dragging && dropColumn(e);
      if (!column) return;
      e.preventDefault();
      e.dataTransfer.dropEffect = "move";
      var spot = dropPosition(column, e.clientY);
      main.querySelectorAll(".drop-target").forEach(function (c) { if (c !== column) c.classList.remove("drop-target"); });
      column.classList.add("drop-target");
      if (indicator.parentNode !== column || indicator.nextSibling !== spot.before) column.insertBefore(indicator, spot.before);
    });
    main.addEventListener("drop", function (e) {
      var column = dragging && dropColumn(e);
      if (!column) return;
      e.preventDefault();
      var frame = dragging;
      var spot = dropPosition(column, e.clientY);
      var target = column.getAttribute("data-column");
      var from = frame.parentNode.getAttribute("data-column");
      endDrag();
      if (from === target && frames(column).indexOf(frame) === spot.position) return;  // dropped where it was
      moveWidget(frame, target, spot.position);
    });
  }

  function report(r) {
    if (r.status >= 400) toast(r.error || "That did not work (" + r.status + ").", "bad");
    return r;
  }

  function fieldFor(arg, value) {
    var id = "f" + dialogCount + "-" + arg.name;
    var input;
    if (arg.kind === "textarea") {
      input = el("textarea", { id: id, name: arg.name, rows: "8" });
      input.value = value == null ? "" : value;
    } else if (arg.choices && arg.choices.length) {
      input = el("select", { id: id, name: arg.name }, arg.choices.map(function (c) {
        return el("option", { value: c, text: c });
      }));
      input.value = value == null ? arg.choices[0] : value;
    } else if (arg.kind === "boolean") {
      input = el("input", { id: id, name: arg.name, type: "checkbox" });
      input.checked = !!value;
    } else if (arg.kind === "integer") {
      input = el("input", { id: id, name: arg.name, type: "number" });
      input.value = value == null ? "" : value;
    } else if (arg.kind === "links") {
      input = el("textarea", { id: id, name: arg.name, rows: String(Math.max(4, (value || []).length + 2)),
                               placeholder: "Mailing list | https://lists.example.org/…" });
      input.value = (value || []).map(function (l) { return l.title + " | " + l.url; }).join("\n");
    } else {
      input = el("input", { id: id, name: arg.name, type: "text" });
      input.value = value == null ? "" : value;
    }
    input.setAttribute("data-kind", arg.kind);
    // The help and the error are read with the field (aria-describedby), not only shown near it.
    input.setAttribute("aria-describedby", (arg.help ? id + "-help " : "") + id + "-error");
    return el("div", { class: "field" }, [
      el("label", { for: id, text: arg.label }),
      input,
      arg.help ? el("small", { class: "help", id: id + "-help", text: arg.help }) : null,
      el("small", { class: "field-error", id: id + "-error", "data-for": arg.name }),
    ]);
  }

  function readField(input) {
    var kind = input.getAttribute("data-kind");
    if (kind === "boolean") return input.checked;
    if (kind === "integer") return input.value === "" ? null : Number(input.value);
    if (kind === "links") {
      return input.value.split("\n").map(function (l) { return l.trim(); }).filter(Boolean).map(function (l) {
        var parts = l.split("|");
        return { title: parts[0].trim(), url: (parts.slice(1).join("|") || "").trim() };
      });
    }
    return input.value;
  }

  // A modal dialog named by its heading. On close the focus goes back where it was (the control that
  // opened it), or to `returnTo` (a widget just added).
  function dialog(title, fields, submitText, onSubmit, returnTo) {
    var titleId = "dialog-title-" + dialogCount;
    var opener = document.activeElement;
    var form = el("form", { method: "dialog", class: "edit-form", novalidate: "novalidate" },
                  [el("h2", { id: titleId, text: title })].concat(fields).concat([
                    el("p", { class: "form-error", role: "alert" }),
                    el("div", { class: "form-buttons" }, [
                      el("button", { type: "button", text: "Cancel", onclick: function () { d.close(); } }),
                      el("button", { type: "submit", class: "primary", text: submitText }),
                    ])]));
    var d = el("dialog", { class: "editor", "aria-labelledby": titleId }, [form]);
    d.addEventListener("close", function () {  // Escape closes it too
      d.remove();
      var back = typeof returnTo === "function" ? returnTo() : returnTo;
      if (!back || !back.isConnected) back = opener;
      if (back && back.isConnected && document.activeElement !== back) back.focus();
    });
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      form.querySelectorAll(".field-error").forEach(function (n) { n.textContent = ""; });
      form.querySelectorAll("[aria-invalid]").forEach(function (n) { n.removeAttribute("aria-invalid"); });
      form.querySelector(".form-error").textContent = "";
      onSubmit(form, function showErrors(r) {
        var fields = r.fields || {};
        var first = null;
        Object.keys(fields).forEach(function (name) {
          var slot = form.querySelector('.field-error[data-for="' + name + '"]');
          var input = form.querySelector('[name="' + name + '"]');
          if (slot) slot.textContent = fields[name];
          else form.querySelector(".form-error").textContent += name + ": " + fields[name] + " ";
          if (input) {
            input.setAttribute("aria-invalid", "true");
            if (!first) first = input;
          }
        });
        if (!Object.keys(fields).length) form.querySelector(".form-error").textContent = r.error || "That did not work.";
        // The first bad field takes the focus: its error is read with it.
        if (first) first.focus();
      }, function done() { d.close(); });
    });
    dialogCount += 1;
    document.body.appendChild(d);
    d.showModal();
    // Long texts open at their beginning, not scrolled to the caret at their end.
    d.querySelectorAll("textarea").forEach(function (t) { t.setSelectionRange(0, 0); t.scrollTop = 0; });
    return d;
  }

  function editWidget(idx, returnTo) {
    api("GET", "/" + hub + "/" + idx + "/config").then(function (w) {
      var version = w.version;
      var fields = w.arguments.map(function (a) { return fieldFor(a, w.config[a.name]); });
      dialog(w.title + " settings", fields, "Save", function (form, showErrors, done) {
        var config = {};
        w.arguments.forEach(function (a) { config[a.name] = readField(form.querySelector('[name="' + a.name + '"]')); });
        api("POST", "/" + hub + "/" + idx + "/config", { config: config, version: version }).then(function (r) {
          if (r.status === 200) { done(); toast("Saved.", "ok"); return; }
          if (r.status === 409 && r.current) {
            version = r.current.version;
            w.arguments.forEach(function (a) {
              var input = form.querySelector('[name="' + a.name + '"]');
              var fresh = fieldFor(a, r.current.config[a.name]).querySelector("[name]");
              if (input.type === "checkbox") input.checked = fresh.checked; else input.value = fresh.value;
            });
            showErrors({ error: "Someone else changed this widget meanwhile: their version is shown now. Save again to replace it." });
            return;
          }
          showErrors(r);
        });
      }, returnTo);
    });
  }

  function addWidget(column, button) {
    (catalogue ? Promise.resolve(catalogue) : api("GET", "/api/widgets").then(function (c) {
      catalogue = c.widgets; return catalogue;
    })).then(function (widgets) {
      var id = "f" + dialogCount + "-plugin";
      var select = el("select", { id: id, name: "plugin", "aria-describedby": id + "-help " + id + "-error" },
                      widgets.map(function (w) { return el("option", { value: w.name, text: w.title }); }));
      var about = el("small", { class: "help", id: id + "-help" });
      function describe() {
        var w = widgets.filter(function (x) { return x.name === select.value; })[0];
        about.textContent = w ? w.description : "";
      }
      select.addEventListener("change", describe);
      describe();
      var added = null;
      dialog("Add a widget to the " + column + " column", [el("div", { class: "field" }, [
        el("label", { for: id, text: "Widget" }), select, about,
        el("small", { class: "field-error", id: id + "-error", "data-for": "plugin" })])], "Add",
        function (form, showErrors, done) {
          api("POST", "/" + hub + "/widgets", { plugin: select.value, column: column }).then(function (r) {
            if (r.status !== 201) { showErrors(r); return; }
            added = r.widget.idx;
            done();
            // Its settings next; closing them leaves the focus on the new widget.
            editWidget(r.widget.idx, function () { return document.getElementById("widget-" + added) || button; });
          });
        });
    });
  }

  // The owners' button: the hub's past from datagrepper, in the background (the Activity widget shows progress).
  function fillHistory() {
    api("POST", "/api/hub/" + encodeURIComponent(hub) + "/backfill").then(function (r) {
      if (r.status !== 202) { toast(r.error || "The history could not be asked for.", "bad"); return; }
      var job = r.job;
      toast(job.status === "done" ? "The history is filled in." :
            "Filling in the history from datagrepper: " + job.percent + " % so far. Activity shows how it goes.", "ok");
    });
  }

  function hubSettings() {
    api("GET", "/" + hub + "/json").then(function (layout) {
      var h = layout.hub;
      var args = [
        { name: "summary", label: "Summary", help: "One line about this hub.", kind: "text" },
        { name: "left_width", label: "Left column width", help: "Out of 12 (3 to 9).", kind: "integer" },
        { name: "avatar", label: "Picture", help: "An https:// URL of the hub's picture; empty shows its initial.",
          kind: "text" },
      ];
      if (!h.user_hub) {
        args.push({ name: "allow_join", label: "People may join by themselves", help: "They become members.",
                    kind: "boolean" });
      }
      if (me.is_admin) {
        args.push({ name: "archived", label: "Archived", help: "Kept for the record; nobody looks after it.",
                    kind: "boolean" });
      }
      var fields = args.map(function (a) { return fieldFor(a, h[a.name]); });
      if (me.is_admin && !h.user_hub) {
        fields.push(fieldFor({ name: "new_owner", label: "Add an owner",
                               help: "An account name (they must have logged in once).", kind: "text" }, ""));
      }
      dialog("Hub settings", fields, "Save", function (form, showErrors, done) {
        var body = { version: h.version };
        args.forEach(function (a) { body[a.name] = readField(form.querySelector('[name="' + a.name + '"]')); });
        var owner = form.querySelector('[name="new_owner"]');
        if (owner && owner.value.trim()) {
          api("POST", "/api/hub/" + encodeURIComponent(hub) + "/owners", { username: owner.value.trim(), owner: true })
            .then(function (r) {
              if (r.status !== 200) toast("Owner not added: " + ((r.fields || {}).username || r.error), "bad");
              else toast("Owner added.", "ok");
            });
        }
        api("POST", "/" + hub + "/config", body).then(function (r) {
          if (r.status === 200) { done(); toast("Saved.", "ok"); return; }
          if (r.status === 409 && r.current) {
            h = r.current;
            args.forEach(function (a) {
              var input = form.querySelector('[name="' + a.name + '"]');
              if (input.type === "checkbox") input.checked = !!h[a.name]; else input.value = h[a.name];
            });
            showErrors({ error: "Someone else changed these settings meanwhile: theirs are shown now. Save again to replace them." });
            return;
          }
          showErrors(r);
        });
      });
    });
  }

  // Redraws replace a frame's content; put the edit bar back each time.
  document.addEventListener("hubs:drawn", function (e) { decorate(e.target); });
  document.addEventListener("hubs:layout", function (e) {
    if (e.detail && e.detail.layout) layout = e.detail.layout;
    decorateAll();
    loadMe();
  });
  loadMe();
})();
