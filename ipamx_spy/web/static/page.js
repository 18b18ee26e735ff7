/* ipamx-spy page: the same script runs in the static HTML export (data-mode="static") and in
   the web view served by `ipamx-spy proxy --web` / `ipamx-spy web` (live updates, filter). */
(function () {
  "use strict";
  var root = document.documentElement;
  var mode = root.dataset.mode || "static";
  var items = document.getElementById("items");

  function store(key, value) {
    try { if (value === undefined) { return localStorage.getItem(key); }
          localStorage.setItem(key, value); } catch (e) { return null; }
    return null;
  }

  /* -- open and close ------------------------------------------------------------------ */
  function setAll(open) {
    items.querySelectorAll("details").forEach(function (d) { d.open = open; });
  }
  document.querySelectorAll("button[data-open]").forEach(function (button) {
    button.addEventListener("click", function () { setAll(button.dataset.open === "1"); });
  });
  function reveal() {
    if (location.hash === "#all") { setAll(true); return; }
    var target = location.hash && document.getElementById(location.hash.slice(1));
    var details = target && (target.tagName === "DETAILS" ? target : target.querySelector("details"));
    if (details) { details.open = true; target.scrollIntoView({block: "start"}); }
  }
  window.addEventListener("hashchange", reveal);

  /* -- theme and presenter mode --------------------------------------------------------- */
  var themeButton = document.getElementById("theme");
  function dark() {
    if (root.dataset.theme) { return root.dataset.theme === "dark"; }
    return window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches;
  }
  function setTheme(name) {
    if (name) { root.dataset.theme = name; }
    themeButton.textContent = dark() ? "light" : "dark";
  }
  themeButton.addEventListener("click", function () {
    var name = dark() ? "light" : "dark";
    store("ipamx-spy-theme", name);
    setTheme(name);
  });
  setTheme(new URLSearchParams(location.search).get("theme") || store("ipamx-spy-theme"));

  var presenterButton = document.getElementById("presenter");
  function setPresenter(on) {
    root.classList.toggle("presenter", on);
    presenterButton.setAttribute("aria-pressed", on ? "true" : "false");
    fitBar();
  }
  presenterButton.addEventListener("click", function () {
    var on = !root.classList.contains("presenter");
    store("ipamx-spy-presenter", on ? "1" : "0");
    setPresenter(on);
  });

  /* the lane heads stick right below the bar, whatever its height */
  var bar = document.querySelector(".bar");
  function fitBar() { root.style.setProperty("--bar", bar.offsetHeight + "px"); }
  window.addEventListener("resize", fitBar);
  var presenting = new URLSearchParams(location.search).get("presenter");
  setPresenter(presenting !== null ? presenting === "1" : store("ipamx-spy-presenter") === "1");

  if (mode === "static") {
    reveal();
    root.dataset.ready = "1";
    return;
  }

  /* -- live: the server's event stream keeps the items up to date ----------------------- */
  var followButton = document.getElementById("follow");
  var pauseButton = document.getElementById("pause");
  var live = document.getElementById("live");
  var filterBox = document.getElementById("filter");
  var filterError = document.getElementById("filter-error");
  var following = true, paused = false, held = null, updates = 0, filterText = "";

  function pressed(button, on) { button.setAttribute("aria-pressed", on ? "true" : "false"); }
  followButton.addEventListener("click", function () {
    following = !following;
    pressed(followButton, following);
    if (following) { scrollToEnd(); }
  });
  pauseButton.addEventListener("click", function () {
    paused = !paused;
    pressed(pauseButton, paused);
    pauseButton.textContent = "pause";
    if (!paused && held) { resume(); }
  });

  function scrollToEnd() {
    var row = items.lastElementChild;
    while (row && (!row.classList.contains("x") || row.classList.contains("hidden"))) {
      row = row.previousElementSibling;
    }
    if (row) { row.scrollIntoView({block: "end"}); }
  }

  function fragment(html) {
    var box = document.createElement("div");
    box.innerHTML = html;
    return box.firstElementChild;
  }

  /* Each event says what changed since the last: the first `keep` items stay as they are,
     `tail` is the order of the items after them, `items` the HTML of every item that is new
     or changed (anywhere); `full` sets the whole page. Only those elements are touched, so
     an event costs what changed, however long the session. */
  var order = Array.prototype.map.call(items.children, function (el) { return el.id; });
  var version = Number(root.dataset.version || 0);

  /* Events are gathered and put on the page once per frame: when the page is slow to lay
     out (a long session, a busy machine) the events that came meanwhile go in together, so
     the page never falls behind the feed. Paused, they are gathered until released. */
  var frame = false;
  function hold(state) {
    var keep = state.full ? 0 : state.keep;
    var tail = state.full ? state.order : state.tail;
    if (!held) { held = {keep: keep, order: order.slice(), items: {}}; }
    held.keep = Math.min(held.keep, keep);
    held.order = held.order.slice(0, keep).concat(tail);
    Object.keys(state.items).forEach(function (id) { held.items[id] = state.items[id]; });
    held.meta = state.meta; held.findings = state.findings; held.v = state.v;
    if (paused) {
      var waiting = 0;
      for (var i = held.keep; i < held.order.length; i++) {
        var id = held.order[i];
        if (id.charAt(0) === "x" && !document.getElementById(id)) { waiting += 1; }
      }
      pauseButton.textContent = waiting ? "paused · " + waiting + " new" : "paused";
    } else if (!frame) {
      frame = true;
      requestAnimationFrame(resume);
      setTimeout(resume, 100);  /* no frames (a hidden tab): still within a tenth of a second */
    }
  }

  function apply(state) {
    version = state.v;
    var keep = state.full ? 0 : state.keep;
    var tail = state.full ? state.order : state.tail;
    var inTail = {}, added = false, made = {};
    tail.forEach(function (id) { inTail[id] = true; });
    for (var i = keep; i < order.length; i++) {
      var gone = !inTail[order[i]] && document.getElementById(order[i]);
      if (gone && gone.parentNode === items) { gone.remove(); }
    }
    Object.keys(state.items).forEach(function (id) {
      var fresh = fragment(state.items[id]), el = document.getElementById(id);
      if (el && el.parentNode === items) {
        var was = el.querySelector("details"), now = fresh.querySelector("details");
        if (was && now) { now.open = was.open; }
        if (el.classList.contains("hidden")) { fresh.classList.add("hidden"); }
        el.replaceWith(fresh);
      } else {
        made[id] = fresh;
        if (id.charAt(0) === "x") { added = true; }
      }
    });
    var previous = keep > 0 ? document.getElementById(order[keep - 1]) : null;
    tail.forEach(function (id) {
      var el = made[id] || document.getElementById(id);
      if (!el) { return; }
      var next = previous ? previous.nextSibling : items.firstChild;
      if (el !== next) { items.insertBefore(el, next); }
      previous = el;
    });
    order = order.slice(0, keep).concat(tail);
    document.getElementById("meta").textContent = state.meta;
    document.getElementById("session-findings").innerHTML = state.findings;
    updates += 1;
    root.dataset.updates = String(updates);
    root.dataset.version = String(version);
    if (filterText) { runFilter(); }
    if (added && following) { scrollToEnd(); }
  }

  function resume() {
    frame = false;
    if (!held || paused) { return; }
    var state = held;
    held = null;
    apply({v: state.v, keep: state.keep, tail: state.order.slice(state.keep),
           items: state.items, meta: state.meta, findings: state.findings});
  }

  function connect() {
    /* not EventSource's own reconnection: that would ask again from the first version */
    var source = new EventSource("events?since=" + version);
    source.addEventListener("state", function (event) { hold(JSON.parse(event.data)); });
    source.addEventListener("open", function () {
      if (live) { live.textContent = "live"; live.classList.remove("off"); }
    });
    source.addEventListener("error", function () {
      if (live) { live.textContent = "reconnecting"; live.classList.add("off"); }
      source.close();
      held = null;  /* asked again from what the page shows */
      setTimeout(connect, 1000);
    });
  }

  /* -- the filter: the server compiles it (the same language as `ipamx-spy show`) ------- */
  var filterTimer = null, filterRun = 0;
  function showOnly(shown, text) {
    items.querySelectorAll(".x, .sec").forEach(function (el) {
      el.classList.toggle("hidden", shown !== null && !shown[el.id]);
    });
    filtered(filterRun, text);
  }
  function filtered(run, text) {  /* which filter the page shows now (the tests wait on it) */
    root.dataset.filteredText = text;
    root.dataset.filtered = String(run);
  }
  function runFilter() {
    var text = filterText, run = ++filterRun;
    if (!text) { showOnly(null, ""); filterBox.classList.remove("invalid");
                 filterError.textContent = ""; return; }
    fetch("api/filter?q=" + encodeURIComponent(text), {credentials: "same-origin"})
      .then(function (response) { return response.json(); })
      .then(function (answer) {
        if (run !== filterRun) { return; }
        if (answer.error) {
          filterBox.classList.add("invalid");
          filterError.textContent = answer.error;
          filtered(run, text);
          return;
        }
        filterBox.classList.remove("invalid");
        filterError.textContent = "";
        var shown = {};
        answer.shown.forEach(function (id) { shown[id] = true; });
        showOnly(shown, text);
      });
  }
  filterBox.addEventListener("input", function () {
    clearTimeout(filterTimer);
    filterTimer = setTimeout(function () { filterText = filterBox.value.trim(); runFilter(); },
                             150);
  });

  document.addEventListener("keydown", function (event) {
    if (event.target === filterBox) { if (event.key === "Escape") { filterBox.blur(); } return; }
    if (event.key === "/") { event.preventDefault(); filterBox.focus(); }
    else if (event.key === "f") { followButton.click(); }
    else if (event.key === " ") { event.preventDefault(); pauseButton.click(); }
    else if (event.key === "p") { presenterButton.click(); }
    else if (event.key === "t") { themeButton.click(); }
  });

  reveal();
  connect();
  root.dataset.ready = "1";
}());
