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
    // Every fetch of the table or of a row takes the next number; an answer is drawn only if
    // nothing newer about its rows has been drawn, so answers that cross on the way never
    // bring back an older state. Each fetch goes out at once: with htmx.ajax they all queued
    // on one element that keeps one waiting request, and updates of other apps were lost.
    var sequence = 0;
    var tableAsked = 0; // the newest table fetch sent
    var tableDrawn = 0; // the table fetch the page shows
    var rowDrawn = {}; // app -> number of the row fetch the page shows
    var tableTimer = null;
    var rowTimers = {}; // app -> pending fetch of its row alone
    var source = new EventSource("/live/events");

    function fetchHtml(url) {
      return window.fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } }).then(function (response) {
        if (!response.ok) {
          throw new Error(url + ": " + response.status);
        }
        return response.text();
      });
    }

    function parse(html) {
      var holder = document.createElement("template");
      holder.innerHTML = html.trim();
      return holder.content.firstElementChild;
    }

    function findRow(app) {
      return document.querySelector('#apps tr[data-app="' + CSS.escape(app) + '"]');
    }

    function refreshTable() {
      clearTimeout(tableTimer);
      tableTimer = setTimeout(function () {
        var current = document.getElementById("apps");
        if (!current) {
          return;
        }
        var number = ++sequence;
        var url = current.getAttribute("data-live-refresh");
        tableAsked = number;
        fetchHtml(url)
          .then(function (html) {
            var now = document.getElementById("apps");
            var fresh = parse(html);
            // A newer table is on its way, or the filter box swapped in another one.
            if (number !== tableAsked || !now || !fresh || now.getAttribute("data-live-refresh") !== url) {
              return;
            }
            now.replaceWith(fresh);
            tableDrawn = number;
            // A row drawn from a fetch newer than this table was just replaced by older
            // content: fetch it again.
            Object.keys(rowDrawn).forEach(function (app) {
              if (rowDrawn[app] > number) {
                delete rowDrawn[app];
                refreshRow(app);
              }
            });
          })
          .catch(function () {
            /* the next event, or a reload, brings the table up to date */
          });
      }, 150);
    }

    // An event about an app already in the table fetches that row alone (a few hundred
    // bytes instead of the whole table); a burst of events of one app makes one request.
    function refreshRow(app) {
      if (rowTimers[app]) {
        return;
      }
      rowTimers[app] = setTimeout(function () {
        delete rowTimers[app];
        if (!findRow(app)) {
          refreshTable();
          return;
        }
        var number = ++sequence;
        fetchHtml("/partials/apps/" + encodeURIComponent(app) + "/row")
          .then(function (html) {
            var row = findRow(app);
            if (!row || number < tableDrawn || number < (rowDrawn[app] || 0)) {
              return; // older than what the page shows
            }
            var fresh = parse(html);
            if (fresh) {
              row.replaceWith(fresh);
            } else {
              row.remove(); // the app is gone
            }
            rowDrawn[app] = number;
          })
          .catch(function () {
            refreshTable();
          });
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
      if (data.app && findRow(data.app)) {
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
