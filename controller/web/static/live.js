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

  // A running deploy's log on the app page: its newest FOLLOW_LINES lines, drawn once per
  // frame whatever the rate of lines. The stream's event ids are line numbers, so a
  // reconnect resumes where it stopped; a hidden tab drops the stream and picks it up again
  // from its last line when shown. (The deploy page has the whole log: logview.js.)
  var FOLLOW_LINES = 1000;

  function followLog(pre) {
    var url = pre.getAttribute("data-follow");
    var source = null;
    var have = parseInt(pre.getAttribute("data-from") || "0", 10) || 0; // lines the page came with
    var pending = [];
    var scheduled = false;
    var ended = false;

    function draw() {
      scheduled = false;
      var atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
      var fragment = document.createDocumentFragment();
      pending.forEach(function (line) {
        fragment.appendChild(document.createTextNode(line + "\n"));
      });
      pending = [];
      pre.appendChild(fragment);
      while (pre.childNodes.length > FOLLOW_LINES) {
        pre.removeChild(pre.firstChild);
      }
      if (atBottom) {
        pre.scrollTop = pre.scrollHeight;
      }
    }

    function connect() {
      if (ended || source || document.visibilityState === "hidden") {
        return;
      }
      source = new EventSource(url + "?from=" + have);
      source.addEventListener("lines", function (event) {
        var batch = JSON.parse(event.data);
        if (batch.from + batch.lines.length <= have) {
          return;
        }
        pending = pending.concat(batch.lines.slice(Math.max(have - batch.from, 0))).slice(-FOLLOW_LINES);
        have = batch.from + batch.lines.length;
        if (!scheduled) {
          scheduled = true;
          window.requestAnimationFrame(draw);
        }
      });
      source.addEventListener("end", function () {
        ended = true;
        disconnect();
        window.location.reload();
      });
      source.addEventListener("error", function () {
        if (source && source.readyState === EventSource.CLOSED) {
          disconnect();
          setTimeout(connect, 2000);
        }
      });
    }

    function disconnect() {
      if (source) {
        source.close();
        source = null;
      }
    }

    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState === "hidden") {
        disconnect();
      } else {
        connect();
      }
    });
    connect();
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
