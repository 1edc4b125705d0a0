// Hubs page, people part: who is here (log in / out), their own actions on the hub
// (subscribe, star, join), and, for the hub's owners, editing in place: widget settings
// drawn from each widget's declared arguments, add, move, remove, hub settings.
// The server checks every write; these controls are only shown to those it will allow.
(function () {
  "use strict";
  var main = document.getElementById("hub");
  var hub = main ? main.getAttribute("data-hub") : null;
  var me = null;
  var catalogue = null;

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

  function toast(message, kind) {
    var box = document.getElementById("toast") || document.body.appendChild(el("div", { id: "toast", role: "status" }));
    box.textContent = message;
    box.className = "toast show " + (kind || "");
    clearTimeout(box._t);
    box._t = setTimeout(function () { box.className = "toast"; }, 3500);
  }

  // ---------------------------------------------------------------- who is here

  function loadMe() {
    return api("GET", "/api/me" + (hub ? "?hub=" + encodeURIComponent(hub) : "")).then(function (data) {
      me = data;
      drawAccount();
      drawAdminTools();
      drawHubActions();
      decorateAll();
    });
  }

  function drawAccount() {
    var bar = document.querySelector(".topbar");
    var old = document.getElementById("account");
    if (old) old.remove();
    var box = el("span", { id: "account", class: "account" });
    if (me.username) {
      box.appendChild(el("a", { href: "/" + me.username, class: "account-name", text: me.username }));
      if (me.via === "session") {
        box.appendChild(el("button", { type: "button", class: "link", text: "Log out", onclick: function () {
          api("POST", "/logout").then(function () { location.reload(); });
        } }));
      }
    } else if (me.login) {
      box.appendChild(el("a", { href: "/login?next=" + encodeURIComponent(location.pathname), class: "login",
                                text: "Log in" }));
    }
    var live = document.getElementById("live");
    if (live) bar.insertBefore(box, live); else bar.appendChild(box);
  }

  var ACTIONS = [["subscriber", "subscribe", "unsubscribe", "Subscribe", "Subscribed"],
                 ["stargazer", "star", "unstar", "Star", "Starred"],
                 ["member", "join", "leave", "Join", "Member"]];

  // Site admins: create team hubs from the list of hubs.
  function drawAdminTools() {
    var intro = document.querySelector(".directory .intro");
    var old = document.getElementById("new-hub");
    if (old) old.remove();
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
    if (old) old.remove();
    var box = el("div", { id: "hub-actions", class: "hub-actions" });
    var ownHub = me.username === hub && me.hub.roles.indexOf("owner") >= 0;
    if (me.username && !ownHub) {
      ACTIONS.forEach(function (a) {
        var has = me.hub.roles.indexOf(a[0]) >= 0;
        if (a[0] === "member" && !has && (!me.hub.can_join || me.hub.roles.indexOf("owner") >= 0)) return;
        box.appendChild(el("button", { type: "button", class: has ? "toggle on" : "toggle", "aria-pressed": String(has),
                                       text: has ? a[4] : a[3], onclick: function () {
          api("POST", "/api/hub/" + encodeURIComponent(hub) + "/" + (has ? a[2] : a[1])).then(function (r) {
            if (r.status >= 400) toast(r.error || "That did not work.", "bad");
            loadMe();
          });
        } }));
      });
    }
    if (me.hub.can_edit) {
      var editing = document.body.classList.contains("editing");
      box.appendChild(el("button", { type: "button", id: "edit-toggle", class: "primary",
                                     text: editing ? "Done" : "Edit hub", onclick: toggleEditing }));
    }
    header.appendChild(box);
  }

  // ---------------------------------------------------------------- editing

  function toggleEditing() {
    document.body.classList.toggle("editing");
    drawHubActions();
    decorateAll();
  }

  function canEdit() { return me && me.hub && me.hub.can_edit && document.body.classList.contains("editing"); }

  function decorateAll() {
    if (!main) return;
    var frames = main.querySelectorAll(".widget");
    for (var i = 0; i < frames.length; i++) decorate(frames[i]);
    main.querySelectorAll(".add-widget").forEach(function (b) { b.remove(); });
    var settings = document.getElementById("hub-settings");
    if (settings) settings.remove();
    if (!canEdit()) return;
    main.querySelectorAll(".column").forEach(function (column) {
      column.appendChild(el("button", { type: "button", class: "add-widget", text: "+ Add a widget",
                                        onclick: function () { addWidget(column.getAttribute("data-column")); } }));
    });
    var header = document.querySelector(".hub-header");
    header.appendChild(el("button", { type: "button", id: "hub-settings", class: "link", text: "Hub settings",
                                      onclick: hubSettings }));
  }

  function decorate(frame) {
    var bar = frame.querySelector(".edit-bar");
    if (bar) bar.remove();
    if (!canEdit()) return;
    var idx = frame.getAttribute("data-idx");
    var siblings = Array.prototype.slice.call(frame.parentNode.querySelectorAll(".widget"));
    var place = siblings.indexOf(frame);
    var heading = frame.querySelector(".panel-heading h2, .placeholder-title");
    var name = heading ? heading.textContent.trim() : "this widget";
    function move(dcol, dpos) {
      var column = frame.parentNode.getAttribute("data-column");
      var siblings = Array.prototype.slice.call(frame.parentNode.querySelectorAll(".widget"));
      var position = siblings.indexOf(frame) + dpos;
      var target = dcol ? (column === "left" ? "right" : "left") : column;
      if (dcol) position = 0;
      if (position < 0) return;
      api("POST", "/" + hub + "/" + idx + "/move", { column: target, position: position }).then(report);
    }
    bar = el("div", { class: "edit-bar", role: "toolbar", "aria-label": "Edit this widget" }, [
      el("button", { type: "button", title: "Settings", "aria-label": "Settings", text: "✎ Settings",
                     onclick: function () { editWidget(idx); } }),
      disabledIf(place === 0, el("button", { type: "button", title: "Move up", "aria-label": "Move up", text: "↑",
                                             onclick: function () { move(false, -1); } })),
      disabledIf(place === siblings.length - 1, el("button", { type: "button", title: "Move down",
                                                               "aria-label": "Move down", text: "↓",
                                                               onclick: function () { move(false, 1); } })),
      el("button", { type: "button", title: "Move to the other column", "aria-label": "Move to the other column",
                     text: "⇄", onclick: function () { move(true, 0); } }),
      el("button", { type: "button", class: "danger", title: "Remove", "aria-label": "Remove", text: "Remove",
                     onclick: function () {
                       if (confirm("Remove \u201c" + name + "\u201d from this hub? Its settings are lost.")) {
                         api("POST", "/" + hub + "/" + idx + "/delete").then(report);
                       }
                     } }),
    ]);
    frame.insertBefore(bar, frame.firstChild);
  }

  function disabledIf(condition, button) {
    if (condition) button.disabled = true;
    return button;
  }

  function report(r) {
    if (r.status >= 400) toast(r.error || "That did not work (" + r.status + ").", "bad");
    return r;
  }

  function fieldFor(arg, value) {
    var id = "f-" + arg.name;
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
    return el("div", { class: "field" }, [
      el("label", { for: id, text: arg.label }),
      input,
      el("small", { class: "help", text: arg.help }),
      el("small", { class: "field-error", "data-for": arg.name, role: "alert" }),
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

  function dialog(title, fields, submitText, onSubmit) {
    var form = el("form", { method: "dialog", class: "edit-form" },
                  [el("h2", { text: title })].concat(fields).concat([
                    el("p", { class: "form-error", role: "alert" }),
                    el("div", { class: "form-buttons" }, [
                      el("button", { type: "button", text: "Cancel", onclick: function () { d.close(); d.remove(); } }),
                      el("button", { type: "submit", class: "primary", text: submitText }),
                    ])]));
    var d = el("dialog", { class: "editor" }, [form]);
    d.addEventListener("close", function () { d.remove(); });  // Escape closes it too
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      form.querySelectorAll(".field-error").forEach(function (n) { n.textContent = ""; });
      form.querySelector(".form-error").textContent = "";
      onSubmit(form, function showErrors(r) {
        var fields = r.fields || {};
        Object.keys(fields).forEach(function (name) {
          var slot = form.querySelector('.field-error[data-for="' + name + '"]');
          if (slot) slot.textContent = fields[name];
          else form.querySelector(".form-error").textContent += name + ": " + fields[name] + " ";
        });
        if (!Object.keys(fields).length) form.querySelector(".form-error").textContent = r.error || "That did not work.";
      }, function done() { d.close(); d.remove(); });
    });
    document.body.appendChild(d);
    d.showModal();
    // Long texts open at their beginning, not scrolled to the caret at their end.
    d.querySelectorAll("textarea").forEach(function (t) { t.setSelectionRange(0, 0); t.scrollTop = 0; });
    return d;
  }

  function editWidget(idx) {
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
      });
    });
  }

  function addWidget(column) {
    (catalogue ? Promise.resolve(catalogue) : api("GET", "/api/widgets").then(function (c) {
      catalogue = c.widgets; return catalogue;
    })).then(function (widgets) {
      var select = el("select", { id: "f-plugin", name: "plugin" }, widgets.map(function (w) {
        return el("option", { value: w.name, text: w.title });
      }));
      var about = el("small", { class: "help" });
      function describe() {
        var w = widgets.filter(function (x) { return x.name === select.value; })[0];
        about.textContent = w ? w.description : "";
      }
      select.addEventListener("change", describe);
      describe();
      dialog("Add a widget", [el("div", { class: "field" }, [el("label", { for: "f-plugin", text: "Widget" }), select,
        about, el("small", { class: "field-error", "data-for": "plugin", role: "alert" })])], "Add",
        function (form, showErrors, done) {
          api("POST", "/" + hub + "/widgets", { plugin: select.value, column: column }).then(function (r) {
            if (r.status === 201) { done(); editWidget(r.widget.idx); } else showErrors(r);
          });
        });
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
  document.addEventListener("hubs:layout", function () { decorateAll(); loadMe(); });
  loadMe();
})();
