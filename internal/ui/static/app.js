// Berth web UI enhancements. The pages work without this file; it adds
// the theme toggle and copy buttons. Loaded in <head> so the stored theme
// applies before the first paint.
(function () {
  "use strict";
  var KEY = "berth-theme";
  var root = document.documentElement;
  try {
    var stored = localStorage.getItem(KEY);
    if (stored === "light" || stored === "dark") root.dataset.theme = stored;
  } catch (e) { /* storage disabled: follow the system */ }

  function current() {
    if (root.dataset.theme) return root.dataset.theme;
    return window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
  }

  document.addEventListener("DOMContentLoaded", function () {
    var toggle = document.getElementById("theme-toggle");
    if (toggle) {
      var label = function () {
        var dark = current() === "dark";
        toggle.textContent = dark ? "Light theme" : "Dark theme";
        toggle.setAttribute("aria-pressed", dark ? "true" : "false");
      };
      toggle.hidden = false;
      label();
      toggle.addEventListener("click", function () {
        var next = current() === "dark" ? "light" : "dark";
        root.dataset.theme = next;
        try { localStorage.setItem(KEY, next); } catch (e) { /* not kept */ }
        label();
      });
    }
    document.querySelectorAll("button[data-copy]").forEach(function (btn) {
      var src = document.getElementById(btn.getAttribute("data-copy"));
      if (!src || !navigator.clipboard) return;
      btn.hidden = false;
      btn.addEventListener("click", function () {
        navigator.clipboard.writeText(src.textContent.trim()).then(function () {
          btn.textContent = "Copied";
          setTimeout(function () { btn.textContent = "Copy"; }, 1500);
        });
      });
    });
  });
})();
