// Petition console: small progressive enhancements; every page works without this file.
(function () {
  "use strict";
  var csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";

  // Forms that need a second thought.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.dataset && form.dataset.confirm && !window.confirm(form.dataset.confirm)) event.preventDefault();
  });

  // Buttons that put a template's text into a textarea: data-fill="#target-id", data-text="...".
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-fill]");
    if (!button) return;
    var target = document.querySelector(button.dataset.fill);
    if (!target) return;
    event.preventDefault();
    target.value = target.value ? target.value + "\n" + button.dataset.text : button.dataset.text;
    target.focus();
  });

  // Live regions: <div data-live-events="/sse/url" data-live-source="/fragment/url">; on each event the
  // fragment is fetched again (the server renders and escapes it) and replaces the region's content.
  function live(region) {
    var source = region.dataset.liveSource;
    var busy = false, again = false;
    function refresh() {
      if (busy) { again = true; return; }
      busy = true;
      fetch(source, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) {
          if (html === null) return;
          var active = document.activeElement && document.activeElement.id;
          region.innerHTML = html;
          if (active && region.querySelector("#" + CSS.escape(active))) document.getElementById(active).focus();
          region.dispatchEvent(new CustomEvent("live:updated", { bubbles: true }));
        })
        .finally(function () { busy = false; if (again) { again = false; refresh(); } });
    }
    var events = new EventSource(region.dataset.liveEvents);
    events.onmessage = refresh;
    window.addEventListener("beforeunload", function () { events.close(); });
  }
  document.querySelectorAll("[data-live-events][data-live-source]").forEach(live);

  window.petitionConsole = { csrf: csrf };
})();
