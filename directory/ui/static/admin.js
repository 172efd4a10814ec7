// Keyboard shortcuts for the review pages. Any element with data-key="x" is activated by pressing
// x (a link is followed, a button clicked: its form carries the CSRF token). On a list marked
// data-list, j/k move between rows and Enter opens the focused one. "?" shows the shortcuts.
(function () {
  "use strict";

  function typing(el) {
    if (!el || !el.tagName) return false;
    var tag = el.tagName.toLowerCase();
    return tag === "input" || tag === "textarea" || tag === "select" || el.isContentEditable;
  }

  function moveInList(list, step) {
    var links = Array.prototype.slice.call(list.querySelectorAll("a[data-row]"));
    if (!links.length) return;
    var at = links.indexOf(document.activeElement);
    var next = at < 0 ? (step > 0 ? 0 : links.length - 1) : Math.min(links.length - 1, Math.max(0, at + step));
    links[next].focus();
    links[next].scrollIntoView({ block: "nearest" });
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
    var help = document.getElementById("shortcuts-help");
    if (event.key === "?" && help && typeof help.showModal === "function") {
      event.preventDefault();
      if (help.open) help.close(); else help.showModal();
      return;
    }
    if (help && help.open) return;
    var list = document.querySelector("[data-list]");
    if (list && (event.key === "j" || event.key === "k")) {
      event.preventDefault();
      moveInList(list, event.key === "j" ? 1 : -1);
      return;
    }
    var target = document.querySelector('[data-key="' + event.key.replace(/["\\]/g, "") + '"]');
    if (!target || target.disabled) return;
    event.preventDefault();
    if (target.tagName === "A") {
      window.location.assign(target.href);
    } else if (target.tagName === "BUTTON") {
      target.click();
    } else {
      target.focus();
    }
  });

  // One decision per click: a second submit while the first is on its way would be refused anyway.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.dataset.submitted) { event.preventDefault(); return; }
    form.dataset.submitted = "1";
    Array.prototype.forEach.call(form.querySelectorAll("button"), function (b) { b.setAttribute("aria-busy", "true"); });
  });

  document.addEventListener("click", function (event) {
    var closer = event.target.closest && event.target.closest("[data-close-dialog]");
    if (closer) closer.closest("dialog").close();
    var opener = event.target.closest && event.target.closest("[data-open-help]");
    if (opener) {
      var help = document.getElementById("shortcuts-help");
      if (help) help.showModal();
    }
  });
})();
