// Dockyard GUI, app pages: copy buttons, the destroy form's typed name, container logs that
// follow (a bounded number of lines in the page), and live charts of the app's figures (inline
// SVG, drawn here: no chart library). No inline script (the CSP forbids it); every page works
// without this file, it only adds to it.
(function () {
  "use strict";

  var SVG = "http://www.w3.org/2000/svg";
  var STATS_EVERY_MS = 5000;
  var POINTS = 60; // per chart: five minutes at one sample per 5 s
  var RESUME_MS = 5000; // a followed log whose containers went away is followed again after this
  var FLUSH_MS = 200; // a followed log's new lines go into the page at most this often
  document.documentElement.classList.add("js");

  // -- copy buttons: data-copy names the element whose text is copied -----------------------
  function copyText(text, done) {
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () { fallbackCopy(text, done); });
    } else {
      fallbackCopy(text, done);
    }
  }

  function fallbackCopy(text, done) {
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.className = "sr-only";
    document.body.appendChild(area);
    area.select();
    try {
      document.execCommand("copy");
      done();
    } finally {
      document.body.removeChild(area);
    }
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("button[data-copy]");
    if (!button) {
      return;
    }
    var source = document.getElementById(button.getAttribute("data-copy"));
    if (!source) {
      return;
    }
    copyText(source.textContent, function () {
      var label = button.textContent;
      button.textContent = "Copied";
      setTimeout(function () { button.textContent = label; }, 1500);
    });
  });

  // -- a form being sent: the app page must not reload under it (live.js reloads it on the
  // app's events, which a destroy or a restart causes while its POST is still answered).
  document.addEventListener("submit", function (event) {
    if (event.defaultPrevented) {
      return; // cancelled at its confirm dialog, or sent by htmx
    }
    var live = document.getElementById("app-live");
    if (live) {
      live.removeAttribute("data-live-reload");
    }
  });

  // -- destroy: the button works once the typed name matches (the server checks it too) -----
  function guardDestroy(input) {
    var button = input.form && input.form.querySelector("button[type=submit]");
    if (!button) {
      return;
    }
    function update() {
      button.disabled = input.value !== input.getAttribute("data-must-match");
    }
    input.addEventListener("input", update);
    update();
  }

  // -- container logs ---------------------------------------------------------------------
  function followContainerLog(pre) {
    var toggle = document.getElementById("follow-toggle");
    var filterBox = document.getElementById("log-filter");
    var status = document.getElementById("log-status");
    var limit = parseInt(pre.getAttribute("data-max-lines"), 10) || 1000;
    var source = null;
    var again = null;

    function say(text) {
      if (status) {
        status.textContent = text;
      }
    }

    // Lines are kept here as they arrive and put in the page at most every FLUSH_MS, in one
    // go (one layout, not one per batch): a container writing 1,000 lines a second costs a
    // few small updates a second. Only the newest `limit` lines are kept meanwhile, so a tab
    // in the background (no animation frames) catches up with one update when it is back.
    var pending = [];
    var scheduled = false;

    function append(lines) {
      for (var i = 0; i < lines.length; i++) {
        pending.push(lines[i]);
      }
      if (pending.length > 2 * limit) {
        pending = pending.slice(-limit);
      }
      if (!scheduled) {
        scheduled = true;
        setTimeout(function () { window.requestAnimationFrame(flush); }, FLUSH_MS);
      }
    }

    // The newest `limit` lines received, whatever the filter box hides: what the page shows
    // again when the filter changes.
    var kept = [];
    var filter = "";

    function matches(line) {
      return line.toLowerCase().indexOf(filter) !== -1;
    }

    function put(lines, replace) {
      var atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
      var drop = replace ? pre.childNodes.length : pre.childNodes.length + lines.length - limit;
      if (drop >= pre.childNodes.length) {
        pre.textContent = "";
      } else if (drop > 0) {
        var range = document.createRange();
        range.setStartBefore(pre.firstChild);
        range.setEndAfter(pre.childNodes[drop - 1]);
        range.deleteContents();
      }
      var chunk = document.createDocumentFragment();
      lines.forEach(function (line) { chunk.appendChild(document.createTextNode(line + "\n")); });
      pre.appendChild(chunk);
      if (atBottom || replace) {
        pre.scrollTop = pre.scrollHeight;
      }
    }

    function flush() {
      scheduled = false;
      var lines = pending.length > limit ? pending.slice(-limit) : pending;
      pending = [];
      if (!lines.length) {
        return;
      }
      kept = kept.concat(lines);
      if (kept.length > limit) {
        kept = kept.slice(-limit);
      }
      put(filter ? lines.filter(matches) : lines, false);
    }

    if (filterBox) {
      var typing = null;
      filterBox.addEventListener("input", function () {
        clearTimeout(typing);
        typing = setTimeout(function () {
          filter = filterBox.value.toLowerCase();
          put(filter ? kept.filter(matches) : kept, true);
        }, 150);
      });
    }

    function show(following) {
      if (toggle) {
        toggle.setAttribute("aria-pressed", following ? "true" : "false");
        toggle.textContent = following ? "Following: on" : "Following: off";
      }
    }

    function close() {
      clearTimeout(again);
      again = null;
      if (source) {
        source.close();
        source = null;
      }
    }

    function resumeLater(why) {
      // Stopped or replaced containers (a deploy, a restart), or a refused stream: follow the
      // app's current containers again in a moment, unless paused meanwhile.
      close();
      say(why + " Following again in " + RESUME_MS / 1000 + " s.");
      again = setTimeout(start, RESUME_MS);
    }

    function start() {
      // The stream starts with the same tail the page was rendered with: no gap, no repeat.
      close();
      source = new EventSource(pre.getAttribute("data-follow-container"));
      source.addEventListener("lines", function (event) { append(JSON.parse(event.data)); });
      source.addEventListener("end", function () {
        resumeLater("The containers' output ended (stopped or replaced).");
      });
      source.onopen = function () {
        // Each (re)connection starts with the tail again (a proxy may cut a quiet stream):
        // the page shows it once.
        pre.textContent = "";
        pending = [];
        kept = [];
        say("Following new lines.");
      };
      source.onerror = function () {
        if (source && source.readyState === EventSource.CLOSED) {
          resumeLater("The log stream was refused.");
        } else {
          say("Reconnecting…");
        }
      };
      show(true);
    }

    function pause() {
      close();
      flush(); // what arrived before the pause is shown now; nothing after it

      show(false);
      say("Paused.");
    }

    if (toggle) {
      toggle.addEventListener("click", function () {
        if (source || again) {
          pause();
        } else {
          start();
        }
      });
    }
    start();
  }

  // -- live figures as charts ---------------------------------------------------------------
  function chart(container, name, values) {
    var figure = null;
    container.querySelectorAll("figure").forEach(function (f) {
      if (f.getAttribute("data-name") === name) {
        figure = f;
      }
    });
    if (!figure) {
      figure = document.createElement("figure");
      figure.setAttribute("data-name", name);
      figure.appendChild(document.createElement("figcaption"));
      var svg = document.createElementNS(SVG, "svg");
      svg.setAttribute("viewBox", "0 0 100 30");
      svg.setAttribute("preserveAspectRatio", "none");
      var base = document.createElementNS(SVG, "line");
      base.setAttribute("class", "base");
      base.setAttribute("x1", "0");
      base.setAttribute("x2", "100");
      base.setAttribute("y1", "29.5");
      base.setAttribute("y2", "29.5");
      svg.appendChild(base);
      svg.appendChild(document.createElementNS(SVG, "polyline"));
      figure.appendChild(svg);
      container.appendChild(figure);
    }
    var known = values.filter(function (v) { return v !== null; });
    var most = known.length ? Math.max.apply(null, known) : null;
    var top = Math.max(most || 0, 0.001); // the chart's scale; a flat zero stays at the bottom
    var last = known.length ? known[known.length - 1] : null;
    figure.querySelector("figcaption").textContent =
      name + ": " + (last === null ? "–" : last) + (most === null ? "" : " (max " + most + ")");
    var step = 100 / (POINTS - 1);
    var offset = POINTS - values.length;
    var points = [];
    values.forEach(function (v, i) {
      if (v !== null) {
        points.push(((offset + i) * step).toFixed(2) + "," + (29 - (v / top) * 28).toFixed(2));
      }
    });
    if (points.length === 1) {
      // One sample so far: a short flat stroke ending at it (a single point draws nothing).
      var only = points[0].split(",");
      points.unshift((parseFloat(only[0]) - step).toFixed(2) + "," + only[1]);
    }
    figure.querySelector("polyline").setAttribute("points", points.join(" "));
  }

  function watchStats(figures) {
    var charts = document.getElementById("stats-charts");
    if (!charts) {
      return;
    }
    var url = figures.getAttribute("data-stats-src");
    var key = "dockyard-stats:" + url;
    var series = {};
    try {
      series = JSON.parse(window.sessionStorage.getItem(key) || "{}") || {};
    } catch (error) {
      series = {};
    }

    function sample(root) {
      var seen = {};
      root.querySelectorAll("[data-series]").forEach(function (cell) {
        var name = cell.getAttribute("data-series");
        var raw = cell.getAttribute("data-value");
        var value = raw === "" || raw === null ? null : parseFloat(raw);
        seen[name] = true;
        var values = series[name] || [];
        values.push(isNaN(value) ? null : value);
        series[name] = values.slice(-POINTS);
      });
      Object.keys(series).forEach(function (name) {
        if (!seen[name]) {
          delete series[name]; // a container that is gone
        }
      });
      charts.querySelectorAll("figure").forEach(function (f) {
        if (!seen[f.getAttribute("data-name")]) {
          charts.removeChild(f);
        }
      });
      Object.keys(series).forEach(function (name) { chart(charts, name, series[name]); });
      try {
        window.sessionStorage.setItem(key, JSON.stringify(series));
      } catch (error) { /* storage full or off: the charts still draw */ }
    }

    var timer = null;
    var busy = false;
    function poll() {
      clearTimeout(timer);
      if (document.hidden || busy) {
        return; // visibilitychange polls again when the tab is back
      }
      busy = true;
      fetch(url, { credentials: "same-origin", headers: { "HX-Request": "true" } })
        .then(function (response) {
          if (!response.ok) {
            throw new Error("HTTP " + response.status);
          }
          return response.text();
        })
        .then(function (html) {
          var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("app-stats-figures");
          var current = document.getElementById("app-stats-figures");
          if (fresh && current) {
            current.replaceWith(document.importNode(fresh, true));
            sample(fresh);
          }
        })
        .catch(function () { /* the next poll tries again */ })
        .then(function () {
          busy = false;
          timer = setTimeout(poll, STATS_EVERY_MS);
        });
    }

    document.addEventListener("visibilitychange", function () {
      if (!document.hidden) {
        poll();
      }
    });
    if (figures.querySelector("[data-series]")) {
      sample(figures); // the figures page came with them
      timer = setTimeout(poll, STATS_EVERY_MS);
    } else {
      // The app page: the charts so far (kept across its reloads), then its figures from here.
      Object.keys(series).forEach(function (name) { chart(charts, name, series[name]); });
      poll();
    }
  }

  function start() {
    document.querySelectorAll("input[data-must-match]").forEach(guardDestroy);
    document.querySelectorAll("pre[data-follow-container]").forEach(followContainerLog);
    var figures = document.getElementById("app-stats-figures");
    if (figures) {
      watchStats(figures);
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
