// The stream page's cards and groups: built once per item (or group) and then only updated, so that a focused
// control keeps its focus while the list changes live. window.HubsStreamCards(state) -> the drawing functions;
// `state` gives the page's follows, selection and opened groups.
(function () {
  "use strict";
  var lib = window.HubsStream;
  var ui = window.HubsStreamUI;
  var el = ui.el;
  var setText = ui.setText;

  window.HubsStreamCards = function (state) {
    var cards = {};   // id -> <li> of its card
    var groups = {};  // group node key -> <li> of a group
    function now() { return Date.now() / 1000; }

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

    // What a card shows of its item's state: words, not only colour ("Unread", "Saved", "Done").
    function updateCard(li, item) {
      li._drawn = item;
      li._selected = !!state.selected()[item.id];
      li.classList.toggle("unread", !!item.unread);
      li.classList.toggle("saved", !!item.saved);
      li.classList.toggle("done", !!item.done);
      li.classList.toggle("selected", !!state.selected()[item.id]);
      li.querySelector(".select").checked = !!state.selected()[item.id];
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
        setText(f, (state.follows()[key] ? "Unfollow " : "Follow ") + f.getAttribute("data-value") +
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

    // A group is touched again only when its items (new objects after any change) or its being open changed,
    // or when `force` (its relative time, every 30 s).
    function updateGroup(li, group, force) {
      var open = !!state.expanded()[group.key];
      var sel = group.items.map(function (it) { return !!state.selected()[it.id]; });
      var same = !force && li._open === open && li._items && li._items.length === group.items.length &&
        group.items.every(function (it, k) { return li._items[k] === it && li._sel[k] === sel[k]; });
      if (same) return;
      li._open = open;
      li._items = group.items.slice();
      li._sel = sel;
      var toggle = li.querySelector(".group-toggle");
      var unread = group.items.filter(function (i) { return i.unread; }).length;
      setText(toggle.querySelector(".group-text"), lib.groupSummary(group.items));
      setText(toggle.querySelector(".group-meta"), group.items.length + " items" + (unread ? ", " + unread + " unread" : "") +
              " · " + lib.relativeTime(group.items[0].message.time, now()));
      li.classList.toggle("unread", unread > 0);
      toggle.setAttribute("aria-expanded", String(open));
      li.querySelector(".group-items").hidden = !open;
      placeChildren(li.querySelector(".group-items"), group.items.map(function (i) { return cardFor(i); }));
    }

    function cardFor(item) {
      var li = cards[item.id];
      // Only a card whose item (a new object after any change) or selection changed is touched again: a live
      // item or a click costs one card's work, not the whole list's.
      if (!li) li = buildCard(item);
      else if (li._drawn !== item || li._selected !== !!state.selected()[item.id]) updateCard(li, item);
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

    return { cards: cards, groups: groups, cardFor: cardFor, updateCard: updateCard, buildGroup: buildGroup,
             updateGroup: updateGroup, placeChildren: placeChildren, itemLabel: itemLabel };
  };
})();
