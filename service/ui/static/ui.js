/* Keyboard shortcuts for the moderators' page. No build step, no dependencies:
   it only moves focus, ticks boxes and clicks buttons that the page already has,
   so the page works the same without it. */
(function () {
  "use strict";

  var help = document.getElementById("help");

  function typing(el) {
    if (!el) return false;
    var tag = el.tagName;
    if (tag === "TEXTAREA" || tag === "SELECT" || el.isContentEditable) return true;
    if (tag === "INPUT") {
      var type = (el.getAttribute("type") || "text").toLowerCase();
      return ["checkbox", "radio", "button", "submit", "reset"].indexOf(type) < 0;
    }
    return false;
  }

  function toggleHelp() {
    if (!help || typeof help.showModal !== "function") return;
    if (help.open) help.close(); else help.showModal();
  }

  document.querySelectorAll("[data-help-open]").forEach(function (b) {
    b.addEventListener("click", toggleHelp);
  });

  /* Moves a selection through `items`, one "current" element at a time. */
  function cursor(items, onMove) {
    var at = -1;
    return {
      get: function () { return at >= 0 ? items[at] : null; },
      move: function (step) {
        if (!items.length) return;
        at = at < 0 ? (step > 0 ? 0 : items.length - 1) : Math.min(items.length - 1, Math.max(0, at + step));
        items.forEach(function (el, i) { el.classList.toggle("current", i === at); });
        onMove(items[at]);
      },
      set: function (el) {
        var i = items.indexOf(el);
        if (i >= 0) { at = i; items.forEach(function (x, j) { x.classList.toggle("current", j === at); }); }
      }
    };
  }

  var handlers = {};

  // The queue: j/k select a row, Enter opens it.
  var rows = Array.prototype.slice.call(document.querySelectorAll("table.queue tbody tr[data-href]"));
  if (rows.length) {
    var rowCursor = cursor(rows, function (row) {
      rows.forEach(function (r) { r.setAttribute("aria-selected", r === row ? "true" : "false"); });
      row.scrollIntoView({ block: "nearest" });
      var link = row.querySelector("a");
      if (link) link.focus({ preventScroll: true });
    });
    handlers.j = function () { rowCursor.move(1); };
    handlers.k = function () { rowCursor.move(-1); };
    handlers.Enter = function (e) {
      var row = rowCursor.get();
      if (!row) return false;
      var active = document.activeElement;
      if (active && (active.tagName === "A" || active.tagName === "BUTTON")) return false; // the browser follows it
      window.location.href = row.getAttribute("data-href");
      return true;
    };
    rows.forEach(function (row) {
      row.addEventListener("click", function (e) {
        if (e.target.closest("a")) return;
        window.location.href = row.getAttribute("data-href");
      });
    });
  }

  // The review: j/k move between sentences, 1-4 toggle labels, a/r/c decide.
  var form = document.getElementById("decision");
  if (form) {
    var sentences = Array.prototype.slice.call(form.querySelectorAll("li.sentence"));
    var sentenceCursor = cursor(sentences, function (li) {
      li.focus({ preventScroll: true });
      li.scrollIntoView({ block: "center", behavior: "smooth" });
    });
    sentences.forEach(function (li) {
      li.addEventListener("focusin", function () { sentenceCursor.set(li); });
    });
    handlers.j = function () { sentenceCursor.move(1); };
    handlers.k = function () { sentenceCursor.move(-1); };
    ["1", "2", "3", "4"].forEach(function (key, i) {
      handlers[key] = function () {
        var li = sentenceCursor.get();
        if (!li) return false;
        var box = li.querySelectorAll(".labels input[type=checkbox]")[i];
        if (!box) return false;
        box.checked = !box.checked;
        box.dispatchEvent(new Event("change", { bubbles: true }));
        return true;
      };
    });
    form.querySelectorAll("button[data-key]").forEach(function (button) {
      handlers[button.getAttribute("data-key")] = function () {
        if (typeof form.requestSubmit === "function") form.requestSubmit(button); else button.click();
        return true;
      };
    });
    var note = document.getElementById("note");
    if (note) handlers.n = function () { note.focus(); return true; };
    var back = form.querySelector("a.back");
    if (back) handlers.u = function () { window.location.href = back.href; return true; };

    // Mark sentences whose boxes differ from what the page loaded with.
    form.addEventListener("change", function (e) {
      var li = e.target.closest && e.target.closest("li.sentence");
      if (!li) return;
      var edited = Array.prototype.some.call(li.querySelectorAll("input[type=checkbox]"), function (box) {
        return String(box.checked) !== box.getAttribute("data-initial");
      });
      li.classList.toggle("edited", edited);
    });

    // One decision per page: a second click or key press would only meet a conflict.
    var sent = false;
    form.addEventListener("submit", function (e) {
      if (sent) { e.preventDefault(); return; }
      sent = true;
      form.classList.add("sending");
    });
  }

  document.addEventListener("keydown", function (e) {
    if (e.defaultPrevented || e.ctrlKey || e.metaKey || e.altKey || e.isComposing) return;
    if (e.key === "Escape" && typing(e.target)) { e.target.blur(); return; }
    if (typing(e.target)) return;
    if (e.key === "?") { toggleHelp(); e.preventDefault(); return; }
    if (help && help.open) return;
    var handler = handlers[e.key];
    if (handler && handler(e) !== false) e.preventDefault();
  });
})();
