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
    var rows = {}; // app -> pending update of its row alone
    var source = new EventSource("/live/events");
    source.onmessage = null;
    function refreshTable() {
      clearTimeout(pending);
      pending = setTimeout(function () {
        var current = document.getElementById("apps");
        if (current && window.htmx) {
          window.htmx.ajax("GET", current.getAttribute("data-live-refresh"), { target: "#apps", swap: "outerHTML" });
        }
      }, 150);
    }
    // An event about an app already in the table fetches that row alone (a few hundred
    // bytes instead of the whole table); a burst of events of one app makes one request.
    function refreshRow(app) {
      if (rows[app]) {
        return;
      }
      rows[app] = setTimeout(function () {
        delete rows[app];
        var row = document.querySelector('#apps tr[data-app="' + CSS.escape(app) + '"]');
        if (!row || !window.htmx) {
          refreshTable();
          return;
        }
        window.htmx.ajax("GET", "/partials/apps/" + encodeURIComponent(app) + "/row", { target: row, swap: "outerHTML" });
      }, 20);
    }
    function refresh(data) {
      if (appPage) {
        var follows = document.getElementById("live-log");
        if (data.app === appPage.getAttribute("data-live-reload") && !follows && !typing()) {
          window.location.reload();
        }
        return;
      }
      if (data.app && document.querySelector('#apps tr[data-app="' + CSS.escape(data.app) + '"]')) {
        refreshRow(data.app);
      } else {
        refreshTable();
      }
    }
    ["deploy", "container", "certificate", "app", "resync"].forEach(function (type) {
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
