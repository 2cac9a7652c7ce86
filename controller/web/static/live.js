// Dockyard GUI: confirm dialogs, live refresh from the controller's events, and deploy logs
// that stream. No inline script anywhere (the Content-Security-Policy forbids it); the pages
// are complete without this file, it only keeps them current.
(function () {
  "use strict";

  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute && form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
    }
  });

  function followLog(pre) {
    var source = new EventSource(pre.getAttribute("data-follow"));
    source.addEventListener("line", function (event) {
      var atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
      pre.appendChild(document.createTextNode(JSON.parse(event.data) + "\n"));
      if (atBottom) {
        pre.scrollTop = pre.scrollHeight;
      }
    });
    source.addEventListener("end", function () {
      source.close();
      window.location.reload();
    });
  }

  function typing() {
    var active = document.activeElement;
    return active && (active.tagName === "INPUT" || active.tagName === "TEXTAREA") && active.value;
  }

  function watchEvents() {
    var table = document.getElementById("apps");
    var appPage = document.getElementById("app-live");
    if (!table && !appPage) {
      return;
    }
    var pending = null;
    var source = new EventSource("/live/events");
    source.onmessage = null;
    function refresh(data) {
      if (appPage) {
        var follows = document.getElementById("live-log");
        if (data.app === appPage.getAttribute("data-live-reload") && !follows && !typing()) {
          window.location.reload();
        }
        return;
      }
      clearTimeout(pending);
      pending = setTimeout(function () {
        var current = document.getElementById("apps");
        if (current && window.htmx) {
          window.htmx.ajax("GET", current.getAttribute("data-live-refresh"), { target: "#apps", swap: "outerHTML" });
        }
      }, 150);
    }
    ["deploy", "container", "certificate", "resync"].forEach(function (type) {
      source.addEventListener(type, function (event) {
        refresh(event.data ? JSON.parse(event.data) : {});
      });
    });
  }

  function start() {
    document.querySelectorAll("pre[data-follow]").forEach(followLog);
    watchEvents();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
