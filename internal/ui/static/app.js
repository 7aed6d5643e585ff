// Berth web UI enhancements. The pages work without this file; it adds
// the theme toggle, copy buttons and the policy preview in place. Loaded in <head> so the stored theme
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
    // Policy preview: swap the plan in place instead of reloading the
    // page; without this the button submits the form as usual.
    var preview = document.getElementById("preview-button");
    var target = document.getElementById("preview");
    if (preview && target && window.fetch) {
      preview.addEventListener("click", function (ev) {
        ev.preventDefault();
        var form = preview.form;
        preview.disabled = true;
        fetch(preview.getAttribute("formaction"), {
          method: "POST",
          headers: { "X-Berth-Partial": "1", "Content-Type": "application/x-www-form-urlencoded" },
          body: new URLSearchParams(new FormData(form)),
          credentials: "same-origin"
        }).then(function (resp) {
          return resp.text().then(function (text) {
            if (!resp.ok) throw new Error("preview failed: " + resp.status);
            target.innerHTML = text;
          });
        }).catch(function (err) {
          target.textContent = err.message;
        }).then(function () { preview.disabled = false; });
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
