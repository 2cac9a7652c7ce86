// Dockyard GUI: a deploy log of any length. The page holds a window of at most
// data-window lines; the rest of the stored log comes on demand (ranges and searches
// fetched as JSON), and a running deploy streams from the last line the page has. DOM
// changes are made once per animation frame, whatever the rate of lines; a tab that was
// in the background (or lost its stream) reconnects from its last line number and catches
// up by itself. Without this file the page still reads: its links load ranges as pages.
(function () {
  "use strict";

  var CHUNK = 500; // lines one "load more" fetches
  var CHUNK_LINES = 100; // lines per block of the page
  var FRAME_LINES = 500; // lines added to the page in one animation frame at most
  var RETRY_MS = [1000, 2000, 5000, 10000];

  function LogView(root) {
    this.root = root;
    this.pre = root.querySelector("#deploy-log");
    this.before = root.querySelector("#log-before");
    this.after = root.querySelector("#log-after");
    this.where = root.querySelector("#log-where");
    this.hits = root.querySelector("#log-hits");
    this.window = parseInt(root.getAttribute("data-window"), 10) || 2000;
    this.first = parseInt(root.getAttribute("data-first"), 10) || 0;
    this.last = this.first + this.pre.querySelectorAll(".ln").length; // the window: [first, last)
    this.known = parseInt(root.getAttribute("data-total"), 10) || 0; // lines the log has
    this.linesUrl = root.getAttribute("data-lines-url");
    this.searchUrl = root.getAttribute("data-search-url");
    this.liveUrl = root.getAttribute("data-live-url");
    this.have = this.known; // the stream's position: lines before it were received
    this.pending = []; // lines [pendingFrom, have) not yet in the page
    this.pendingFrom = this.have;
    this.tail = this.last >= this.known; // the window shows the end of the log
    this.scheduled = false;
    this.busy = false; // a range is being fetched: it redraws when it arrives
    this.source = null;
    this.ended = !this.liveUrl;
    this.retries = 0;
    this.retryTimer = null;
    root.setAttribute("data-state", this.ended ? "ended" : "live");
    this.bind();
    if (this.tail && !window.location.hash) {
      this.pre.scrollTop = this.pre.scrollHeight;
    }
    this.controls();
    if (!this.ended) {
      this.connect();
    }
  }

  LogView.prototype.bind = function () {
    var view = this;
    this.root.addEventListener("click", function (event) {
      var link = event.target.closest && event.target.closest("a[data-load], a[data-line]");
      if (!link || event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) {
        return;
      }
      event.preventDefault();
      var load = link.getAttribute("data-load");
      if (load === "before") {
        view.loadBefore();
      } else if (load === "after") {
        view.loadAfter();
      } else if (load === "end") {
        view.goToEnd();
      } else {
        view.jumpTo(parseInt(link.getAttribute("data-line"), 10));
      }
    });
    var form = this.root.querySelector("form.log-search");
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      view.search(form.querySelector("input[name=q]").value);
    });
    this.pre.addEventListener("scroll", function () {
      if (view.pending.length && view.atBottom()) {
        view.schedule();
      }
    }, { passive: true });
    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState === "hidden") {
        view.disconnect(); // a hidden tab needs no stream; it catches up when shown again
      } else {
        view.resume();
      }
    });
    window.addEventListener("pageshow", function () { view.resume(); });
    document.addEventListener("resume", function () { view.resume(); }); // a frozen tab thawed
  };

  // --- the live stream ----------------------------------------------------------------

  LogView.prototype.connect = function () {
    var view = this;
    if (this.ended || this.source || document.visibilityState === "hidden") {
      return;
    }
    clearTimeout(this.retryTimer);
    var source = new EventSource(this.liveUrl + "?from=" + this.have);
    this.source = source;
    source.addEventListener("open", function () {
      view.retries = 0;
    });
    source.addEventListener("lines", function (event) {
      var batch = JSON.parse(event.data);
      view.receive(batch.from, batch.lines);
    });
    source.addEventListener("end", function (event) {
      view.finish(JSON.parse(event.data));
    });
    source.addEventListener("error", function () {
      // EventSource retries by itself (with Last-Event-ID) unless the answer was an error:
      // then start again from the last line received, a little later.
      if (source.readyState === EventSource.CLOSED) {
        view.disconnect();
        var wait = RETRY_MS[Math.min(view.retries, RETRY_MS.length - 1)];
        view.retries += 1;
        view.retryTimer = setTimeout(function () { view.connect(); }, wait);
      }
    });
  };

  LogView.prototype.disconnect = function () {
    if (this.source) {
      this.source.close();
      this.source = null;
    }
  };

  LogView.prototype.resume = function () {
    if (this.source && this.source.readyState === EventSource.CLOSED) {
      this.disconnect(); // closed while the page was frozen or in the back-forward cache
    }
    if (!this.ended && !this.source && document.visibilityState !== "hidden") {
      this.connect();
    }
  };

  LogView.prototype.receive = function (from, lines) {
    if (from + lines.length <= this.have) {
      return; // already had these (a stream resumed from an older line)
    }
    if (from < this.have) {
      lines = lines.slice(this.have - from);
      from = this.have;
    }
    if (from > this.have || !this.pending.length) {
      this.pending = [];
      this.pendingFrom = from;
    }
    this.pending = this.pending.length ? this.pending.concat(lines) : lines;
    this.have = from + lines.length;
    if (this.pending.length > this.window) { // only the newest window can ever be shown at once
      this.pending = this.pending.slice(this.pending.length - this.window);
      this.pendingFrom = this.have - this.pending.length;
    }
    this.known = Math.max(this.known, this.have);
    this.schedule();
  };

  LogView.prototype.finish = function (end) {
    this.ended = true;
    this.disconnect();
    this.known = Math.max(this.known, end.total);
    this.root.setAttribute("data-state", "ended");
    var status = document.getElementById("deploy-status");
    if (status && end.status) {
      status.textContent = end.status;
      status.className = "status status-" + end.status;
    }
    if (end.error && !document.querySelector("main .error")) {
      var note = document.createElement("p");
      note.className = "error";
      note.setAttribute("role", "alert");
      note.textContent = end.error;
      this.root.parentNode.insertBefore(note, this.root);
    }
    this.schedule();
  };

  // --- drawing, once per frame ----------------------------------------------------------

  LogView.prototype.schedule = function () {
    var view = this;
    if (!this.scheduled) {
      this.scheduled = true;
      window.requestAnimationFrame(function () {
        view.scheduled = false;
        view.draw();
      });
    }
  };

  LogView.prototype.atBottom = function () {
    var pre = this.pre;
    return pre.scrollHeight - pre.scrollTop - pre.clientHeight < 8;
  };

  LogView.prototype.draw = function () {
    if (this.busy) {
      return;
    }
    if (this.pending.length && this.last > this.pendingFrom) { // the page has some already
      this.pending = this.pending.slice(Math.min(this.last - this.pendingFrom, this.pending.length));
      this.pendingFrom = this.have - this.pending.length;
    }
    if (this.pending.length && this.tail && this.atBottom()) {
      // At most FRAME_LINES lines a frame: a burst is drawn over a few frames, not in one long task.
      var take = this.pending.length > FRAME_LINES ? this.pending.slice(0, FRAME_LINES) : this.pending;
      if (this.last < this.pendingFrom) { // more came than a window while away: show the newest
        this.replace(this.pendingFrom, take);
      } else {
        this.append(take);
      }
      this.pending = this.pending.slice(take.length);
      this.pendingFrom += take.length;
      this.pre.scrollTop = this.pre.scrollHeight;
      if (this.pending.length) {
        this.schedule();
      }
    }
    this.controls();
  };

  // Lines go in blocks of CHUNK_LINES (span.lc), which the stylesheet lets the browser skip
  // laying out while they are off screen (content-visibility): what a frame costs depends
  // on what is visible, not on how many lines the window holds.
  function lineNode(number, text) {
    var span = document.createElement("span");
    span.className = "ln";
    span.id = "L" + (number + 1);
    span.setAttribute("data-n", String(number + 1));
    span.textContent = text + "\n";
    return span;
  }

  function chunkNode() {
    var chunk = document.createElement("span");
    chunk.className = "lc";
    return chunk;
  }

  function chunksOf(from, lines, fill) {
    // `fill`: a chunk to top up first (the last one in the page), then new ones.
    var fragment = document.createDocumentFragment();
    var chunk = fill;
    for (var i = 0; i < lines.length; i++) {
      if (!chunk || chunk.childElementCount >= CHUNK_LINES) {
        chunk = fragment.appendChild(chunkNode());
      }
      chunk.appendChild(lineNode(from + i, lines[i]));
    }
    return fragment;
  }

  LogView.prototype.append = function (lines) {
    var pre = this.pre;
    pre.appendChild(chunksOf(this.last, lines, pre.lastElementChild));
    this.last += lines.length;
    while (this.last - this.first > this.window && pre.firstElementChild) {
      var chunk = pre.firstElementChild;
      var size = chunk.childElementCount;
      if (this.last - this.first - size >= this.window) {
        pre.removeChild(chunk);
        this.first += size;
      } else {
        chunk.removeChild(chunk.firstElementChild);
        this.first += 1;
      }
    }
  };

  LogView.prototype.prepend = function (from, lines) {
    var pre = this.pre;
    var height = pre.scrollHeight;
    pre.insertBefore(chunksOf(from, lines, null), pre.firstElementChild);
    this.first = from;
    while (this.last - this.first > this.window && pre.lastElementChild) {
      var chunk = pre.lastElementChild;
      var size = chunk.childElementCount;
      if (this.last - this.first - size >= this.window) {
        pre.removeChild(chunk);
        this.last -= size;
      } else {
        chunk.removeChild(chunk.lastElementChild);
        this.last -= 1;
      }
      this.tail = false;
    }
    pre.scrollTop += pre.scrollHeight - height; // the lines one was reading stay in place
  };

  LogView.prototype.replace = function (from, lines) {
    this.pre.textContent = "";
    this.first = from;
    this.last = from;
    this.append(lines);
  };

  LogView.prototype.controls = function () {
    this.before.hidden = this.first <= 0;
    this.before.querySelector(".count").textContent = String(this.first);
    this.after.hidden = this.last >= this.known;
    this.after.querySelector(".count").textContent = String(Math.max(this.known - this.last, 0));
    var shown = this.last > this.first ? this.first + 1 : this.first;
    this.where.textContent = "Lines " + shown + "\u2013" + this.last + " of " + this.known +
      (this.ended ? "" : " so far");
  };

  // --- ranges and searches ------------------------------------------------------------

  LogView.prototype.fetchRange = function (start, stop, then) {
    var view = this;
    if (this.busy) {
      return;
    }
    this.busy = true;
    var url = this.linesUrl + "?start=" + Math.max(start, 0) + "&stop=" + Math.max(stop, 0);
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("the log could not be loaded (" + response.status + ")");
        }
        return response.json();
      })
      .then(function (got) {
        view.busy = false;
        view.known = Math.max(view.known, got.total);
        then(got);
        view.tail = view.last >= Math.max(view.have, got.total);
        view.draw();
      })
      .catch(function (error) {
        view.busy = false;
        view.where.textContent = String(error.message || error);
      });
  };

  LogView.prototype.loadBefore = function () {
    var view = this;
    var stop = this.first;
    this.fetchRange(stop - CHUNK, stop, function (got) {
      if (got.lines.length && got.stop === view.first) {
        view.prepend(got.start, got.lines);
      }
    });
  };

  LogView.prototype.loadAfter = function () {
    var view = this;
    this.fetchRange(this.last, this.last + CHUNK, function (got) {
      if (got.start === view.last) {
        view.append(got.lines);
      }
    });
  };

  LogView.prototype.goToEnd = function () {
    var view = this;
    var end = Math.max(this.have, this.known);
    this.fetchRange(end - this.window, end, function (got) {
      view.replace(got.start, got.lines);
      view.pre.scrollTop = view.pre.scrollHeight;
    });
  };

  LogView.prototype.jumpTo = function (number) {
    var view = this;
    var start = Math.max(number - Math.floor(this.window / 2), 0);
    this.fetchRange(start, start + this.window, function (got) {
      view.replace(got.start, got.lines);
      var old = view.pre.querySelector(".hit");
      if (old) {
        old.classList.remove("hit");
      }
      var line = document.getElementById("L" + (number + 1));
      if (line) {
        line.classList.add("hit");
        var offset = line.getBoundingClientRect().top - view.pre.getBoundingClientRect().top;
        view.pre.scrollTop += offset - view.pre.clientHeight / 2;
      }
    });
  };

  LogView.prototype.search = function (text) {
    var view = this;
    var hits = this.hits;
    if (!text) {
      hits.textContent = "";
      return;
    }
    hits.textContent = "Searching\u2026";
    fetch(this.searchUrl + "?q=" + encodeURIComponent(text), { credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("the search failed (" + response.status + ")");
        }
        return response.json();
      })
      .then(function (found) {
        hits.textContent = "";
        var summary = document.createElement("p");
        hits.appendChild(summary);
        if (!found.hits.length) {
          summary.textContent = "No line matches \u201c" + text + "\u201d.";
          return;
        }
        var one = found.hits.length === 1 && !found.more;
        summary.textContent = found.hits.length + (found.more ? "+" : "") + (one ? " line matches" : " lines match") +
          " \u201c" + text + "\u201d:";
        var list = document.createElement("ol");
        var base = view.linesUrl.replace(/\/lines$/, "");
        found.hits.forEach(function (hit) {
          var item = document.createElement("li");
          var link = document.createElement("a");
          link.href = base + "?from=" + Math.max(hit.n - Math.floor(view.window / 2), 0) + "#L" + (hit.n + 1);
          link.setAttribute("data-line", String(hit.n));
          link.textContent = "line " + (hit.n + 1);
          var text = document.createElement("code");
          text.textContent = hit.line.length > 160 ? hit.line.slice(0, 157) + "..." : hit.line;
          item.appendChild(link);
          item.appendChild(document.createTextNode(" "));
          item.appendChild(text);
          list.appendChild(item);
        });
        hits.appendChild(list);
        view.jumpTo(found.hits[0].n);
      })
      .catch(function (error) {
        hits.textContent = String(error.message || error);
      });
  };

  function start() {
    var root = document.getElementById("logview");
    if (root) {
      window.dockyardLog = new LogView(root);
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
