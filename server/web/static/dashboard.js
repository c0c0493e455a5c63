/* Managers' dashboard: league table, per-site charts (plotly.js from the plotly
   Python package, served by our server) and a live panel polled every 5 s.
   Every number comes from /api/v1/stats*, /api/v1/live; definitions: docs/measures.md. */
(function () {
  "use strict";
  var T = JSON.parse(document.getElementById("texts").textContent);
  var _ = function (s) { return T[s] || s; };
  var root = document.getElementById("dashboard");
  var WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];
  var TARGET_MIN = 60;
  var COLORS = { good: "#2e7d32", mid: "#f9a825", bad: "#c62828", blue: "#1f4e79", light: "#90b4d8", grey: "#9e9e9e" };
  var fromInput = document.getElementById("from"), toInput = document.getElementById("to");
  var siteSelect = document.getElementById("site");
  var state = { from: root.dataset.from, to: root.dataset.today, site: siteSelect.value };

  function dmy(iso) { var p = iso.split("-"); return p[2] + "/" + p[1] + "/" + p[0]; }
  function iso(dmyText) {
    var m = /^(\d{1,2})\/(\d{1,2})\/(\d{4})$/.exec(dmyText.trim());
    if (!m) return null;
    var d = new Date(Date.UTC(+m[3], +m[2] - 1, +m[1]));
    if (d.getUTCDate() !== +m[1]) return null;
    return d.toISOString().slice(0, 10);
  }
  var COUNTER_NAMES = JSON.parse(document.getElementById("counter-names").textContent);
  function counterName(site, counter) { return (COUNTER_NAMES[site] || {})[counter] || counter; }
  function weekday(isoDay) { var d = new Date(isoDay + "T00:00:00Z"); return _(WEEKDAYS[(d.getUTCDay() + 6) % 7]); }
  function minutes(s) { return s === null || s === undefined ? null : Math.round(s / 6) / 10; }
  function fmtMin(s) { return s === null || s === undefined ? "–" : (Math.round(s / 60) + " " + _("min")); }
  function pct(v) { return v === null || v === undefined ? "–" : v.toLocaleString("vi-VN") + " %"; }
  function colorFor(v) { return v === null ? COLORS.grey : v >= 80 ? COLORS.good : v >= 60 ? COLORS.mid : COLORS.bad; }
  function el(tag, text, cls) { var e = document.createElement(tag); if (text !== undefined) e.textContent = text; if (cls) e.className = cls; return e; }

  function showError(message) {
    var box = document.getElementById("error");
    box.hidden = !message;
    box.textContent = message || "";
  }
  function getJSON(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } }).then(function (r) {
      return r.json().then(function (body) {
        if (!r.ok) throw new Error(body.detail || body.code || r.status);
        return body;
      });
    });
  }
  function query(extra) {
    var q = "from=" + state.from + "&to=" + state.to;
    return extra ? q + "&" + extra : q;
  }
  var layoutBase = {
    margin: { l: 48, r: 16, t: 28, b: 40 }, font: { family: "DejaVu Sans, sans-serif", size: 12 },
    paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)", separators: ",.",
    legend: { orientation: "h", x: 0, y: 1.02, yanchor: "bottom" },
    hoverlabel: { font: { family: "DejaVu Sans, sans-serif" } },
  };
  function layout(extra) { return Object.assign({}, layoutBase, extra); }
  var config = { displayModeBar: false, responsive: true, locale: "vi" };
  function empty(id) {
    var node = document.getElementById(id);
    Plotly.purge(node);
    node.innerHTML = "";
    node.appendChild(el("p", _("No data for this period."), "muted nodata"));
  }

  function renderLeague(body) {
    var rows = body.rows.slice().sort(function (a, b) {
      var x = a.pct_within_target === null ? -1 : a.pct_within_target, y = b.pct_within_target === null ? -1 : b.pct_within_target;
      return y - x || b.received - a.received;
    });
    var tbody = document.querySelector("#league tbody");
    tbody.innerHTML = "";
    rows.forEach(function (r, i) {
      var tr = el("tr");
      tr.dataset.site = r.site;
      if (r.site === state.site) tr.className = "chosen";
      tr.appendChild(el("td", String(i + 1), "num"));
      tr.appendChild(el("td", r.site_name, "name"));
      var cell = el("td", "", "bar-cell");
      var track = el("span", "", "meter"), fill = el("span", "", "fill");
      fill.style.width = (r.pct_within_target || 0) + "%";
      fill.style.background = colorFor(r.pct_within_target);
      track.appendChild(fill);
      cell.appendChild(track);
      cell.appendChild(el("span", pct(r.pct_within_target), "bar-label"));
      tr.appendChild(cell);
      [r.received, r.issued, r.no_show].forEach(function (v) { tr.appendChild(el("td", String(v), "num")); });
      tr.appendChild(el("td", fmtMin(r.wait_p50_s), "num"));
      tr.appendChild(el("td", fmtMin(r.total_p90_s), "num"));
      tr.appendChild(el("td", pct(r.satisfaction_pct), "num"));
      tr.addEventListener("click", function () { siteSelect.value = r.site; state.site = r.site; loadSite(); renderLeague(body); });
      tbody.appendChild(tr);
    });
    document.getElementById("period").textContent = dmy(body.from) + " – " + dmy(body.to);
    document.getElementById("xlsx").href = "/api/v1/stats.xlsx?" + query("group_by=site");
    document.getElementById("csv").href = "/api/v1/stats.csv?" + query("group_by=site");
  }

  function chartDays(rows) {
    if (!rows.length) return empty("chart-days");
    var x = rows.map(function (r) { return r.day; });
    Plotly.react("chart-days", [
      { type: "bar", x: x, y: rows.map(function (r) { return r.pct_within_target; }), name: _("% within target"),
        marker: { color: rows.map(function (r) { return colorFor(r.pct_within_target); }) },
        customdata: rows.map(function (r) { return [weekday(r.day) + " " + dmy(r.day), r.within_target, r.received]; }),
        hovertemplate: "%{customdata[0]}<br>%{y} %<br>%{customdata[1]} / %{customdata[2]}<extra></extra>" },
      { type: "scatter", mode: "lines+markers", x: x, y: rows.map(function (r) { return r.received; }), name: _("Received"),
        yaxis: "y2", line: { color: COLORS.blue, width: 2 }, marker: { size: 5 } },
    ], layout({
      // one tick a day when there are few days (Plotly would otherwise tick every few hours
      // and print the same date several times)
      xaxis: { type: "date", tickformat: "%d/%m", hoverformat: "%d/%m/%Y", dtick: rows.length <= 14 ? 86400000 : undefined },
      yaxis: { range: [0, 105], ticksuffix: " %", title: { text: _("% within target") } },
      yaxis2: { overlaying: "y", side: "right", rangemode: "tozero", showgrid: false, tickformat: ",.0f", title: { text: _("Received") } },
      margin: { l: 56, r: 56, t: 28, b: 40 },
    }), config);
  }

  function chartDistribution(body) {
    var n = body.wait.length, binMin = body.bin_s / 60, x = [];
    for (var i = 0; i < n; i++) x.push(i * binMin + binMin / 2);
    var total = function (a) { return a.reduce(function (s, v) { return s + v; }, 0); };
    if (!total(body.wait) && !total(body.total)) return empty("chart-dist");
    var last = 0;
    for (var j = 0; j < n; j++) if (body.wait[j] || body.total[j]) last = j;
    var xmax = Math.max(TARGET_MIN + 30, (last + 2) * binMin);
    var share = function (a) { var t = total(a) || 1; return a.map(function (v) { return Math.round(1000 * v / t) / 10; }); };
    Plotly.react("chart-dist", [
      { type: "bar", x: x, y: share(body.wait), name: _("Wait"), marker: { color: COLORS.light }, width: binMin * 0.95,
        hovertemplate: "%{x} " + _("min") + ": %{y} %<extra>" + _("Wait") + "</extra>" },
      { type: "bar", x: x, y: share(body.total), name: _("Total time"), marker: { color: COLORS.blue }, opacity: 0.75,
        width: binMin * 0.95, hovertemplate: "%{x} " + _("min") + ": %{y} %<extra>" + _("Total time") + "</extra>" },
    ], layout({
      barmode: "overlay",
      xaxis: { title: { text: _("minutes") }, range: [0, xmax] },
      yaxis: { ticksuffix: " %", title: { text: _("Share of tickets") } },
      shapes: [{ type: "line", x0: TARGET_MIN, x1: TARGET_MIN, yref: "paper", y0: 0, y1: 1, line: { color: COLORS.bad, width: 2, dash: "dash" } }],
      annotations: [{ x: TARGET_MIN, yref: "paper", y: 0.95, text: " " + _("60-minute line"), showarrow: false, xanchor: "left", font: { color: COLORS.bad } }],
    }), config);
  }

  function chartHours(rows) {
    rows = rows.filter(function (r) { return r.issued > 0; });
    if (!rows.length) return empty("chart-hours");
    var x = rows.map(function (r) { return r.hour + "h"; });
    Plotly.react("chart-hours", [
      { type: "bar", x: x, y: rows.map(function (r) { return r.issued; }), name: _("Tickets issued"), marker: { color: COLORS.light } },
      { type: "scatter", mode: "lines+markers", x: x, y: rows.map(function (r) { return minutes(r.wait_p50_s); }), name: _("Wait p50 (min)"), yaxis: "y2", line: { color: COLORS.blue } },
      { type: "scatter", mode: "lines+markers", x: x, y: rows.map(function (r) { return minutes(r.wait_p90_s); }), name: _("Wait p90 (min)"), yaxis: "y2", line: { color: COLORS.bad, dash: "dot" } },
    ], layout({
      xaxis: {},
      yaxis: { title: { text: _("tickets") } },
      yaxis2: { overlaying: "y", side: "right", rangemode: "tozero", showgrid: false, tickformat: ",.0f", title: { text: _("minutes") } },
      margin: { l: 48, r: 48, t: 28, b: 40 },
    }), config);
  }

  function chartCounters(rows) {
    rows = rows.filter(function (r) { return r.counter && r.issued > 0; });
    if (!rows.length) return empty("chart-counters");
    var x = rows.map(function (r) { return counterName(r.site, r.counter); });
    Plotly.react("chart-counters", [
      { type: "bar", x: x, y: rows.map(function (r) { return r.pct_within_target; }), name: _("% within target"),
        marker: { color: rows.map(function (r) { return colorFor(r.pct_within_target); }) } },
      { type: "scatter", mode: "markers", x: x, y: rows.map(function (r) { return minutes(r.wait_p50_s); }), name: _("Wait p50 (min)"), yaxis: "y2", marker: { size: 11, color: COLORS.blue, symbol: "diamond" } },
      { type: "scatter", mode: "markers", x: x, y: rows.map(function (r) { return minutes(r.service_p50_s); }), name: _("Service p50 (min)"), yaxis: "y2", marker: { size: 11, color: COLORS.grey, symbol: "circle" } },
      { type: "scatter", mode: "markers", x: x, y: rows.map(function (r) { return r.ratings ? r.satisfaction_pct : null; }), name: _("Satisfied") + " %", marker: { size: 12, color: COLORS.good, symbol: "triangle-up" } },
    ], layout({
      xaxis: {},
      yaxis: { range: [0, 105], ticksuffix: " %" },
      yaxis2: { overlaying: "y", side: "right", rangemode: "tozero", showgrid: false, tickformat: ",.0f", title: { text: _("minutes") } },
      margin: { l: 48, r: 48, t: 28, b: 40 },
    }), config);
  }

  // Booking figures of the period (docs/measures.md): GET .../bookings/figures, and the
  // share served by booking from the statistics grouped by channel.
  function signedMin(s) {
    if (s === null || s === undefined) return "–";
    var m = Math.round(s / 60);
    return (m > 0 ? "+" : "") + m;
  }
  function renderBookings(f, channels) {
    var box = document.getElementById("booking-figures");
    box.replaceChildren();
    var rows = channels || [];
    var issued = rows.reduce(function (sum, r) { return sum + r.issued; }, 0);
    var booked = rows.filter(function (r) { return r.channel === "appointment"; }).reduce(function (sum, r) { return sum + r.issued; }, 0);
    var share = issued ? Math.round(1000 * booked / issued) / 10 : null;
    var items = [
      ["bookings", _("Appointments booked"), String(f.bookings)],
      ["cancelled", _("Cancelled"), String(f.cancelled)],
      ["checked_in", _("Checked in"), String(f.checked_in)],
      ["no_show", _("Booked, not come"), String(f.no_show)],
      ["punctuality", _("Punctuality, median / p90 (check-in − slot start)"),
        signedMin(f.punctuality_median_s) + " / " + signedMin(f.punctuality_p90_s) + " " + _("min")],
      ["online", _("Online numbers (checked in)"), f.online_numbers + " (" + f.online_checked_in + ")"],
      ["share", _("Share served by booking"), pct(share)],
    ];
    items.forEach(function (item) {
      var pair = el("div", undefined, "figure"), dd = el("dd", item[2], "num");
      dd.dataset.figure = item[0];
      pair.append(el("dt", item[1]), dd);
      box.append(pair);
    });
  }

  function loadBookings() {
    // Apart from the charts: grouping by channel reads the ticket rows and may refuse a
    // very long period; the other figures still show, the share as "–".
    var site = state.site;
    var figures = getJSON("/api/v1/sites/" + encodeURIComponent(site) + "/bookings/figures?" + query());
    var channels = getJSON("/api/v1/stats?" + query("site=" + encodeURIComponent(site) + "&group_by=channel"))
      .then(function (body) { return body.rows; }, function () { return null; });
    Promise.all([figures, channels]).then(function (parts) {
      if (site === state.site) renderBookings(parts[0], parts[1]);
    }).catch(function () { document.getElementById("booking-figures").replaceChildren(el("dd", _("No data for this period."), "muted")); });
  }

  // Messages to citizens (issue 18): GET /api/v1/notify/summary for the period; the card
  // stays hidden on a server that sends no messages (404).
  var CHANNELS = { page: "Ticket page", webpush: "Web Push", zalo: "Zalo", sms: "SMS", file: "File (log)" };
  var KINDS = { near: "Near its turn", called: "Called to the counter", recalled: "Called again",
    booking_day_before: "Booking: the day before", booking_soon: "Booking: 30 minutes before", rating: "Rating invitation" };
  function renderNotify(body) {
    var card = document.getElementById("notify-card");
    var rows = document.querySelector("#notify-table tbody");
    rows.replaceChildren();
    Object.keys(body.messages).sort().forEach(function (channel) {
      Object.keys(body.messages[channel]).sort().forEach(function (kind) {
        var n = body.messages[channel][kind], tr = el("tr");
        tr.dataset.channel = channel;
        tr.dataset.kind = kind;
        tr.append(el("td", _(CHANNELS[channel] || channel)), el("td", _(KINDS[kind] || kind)));
        [n.sent || 0, n.failed || 0, n.dropped || 0, (n.pending || 0) + (n.sending || 0)].forEach(function (v) {
          tr.append(el("td", String(v), "num"));
        });
        rows.append(tr);
      });
    });
    if (!rows.children.length) {
      var empty = el("tr"), td = el("td", _("No messages in this period."), "muted");
      td.colSpan = 6;
      empty.append(td);
      rows.append(empty);
    }
    var lines = Object.keys(body.told_in_time).sort().map(function (channel) {
      var t = body.told_in_time[channel];
      return _(CHANNELS[channel] || channel) + ": " + _("{told} of {eligible} told at least {minutes} min before their call ({share})")
        .replace("{told}", t.told_in_time).replace("{eligible}", t.eligible)
        .replace("{minutes}", body.near_minutes).replace("{share}", pct(t.share_pct));
    });
    document.getElementById("notify-in-time").textContent = lines.length ? lines.join(" · ")
      : _("Nobody waited long enough to be told in time in this period.");
    card.hidden = false;
  }
  function loadNotify() {
    var site = state.site;
    getJSON("/api/v1/notify/summary?" + query("site=" + encodeURIComponent(site))).then(function (body) {
      if (site === state.site) renderNotify(body);
    }).catch(function () { document.getElementById("notify-card").hidden = true; });
  }

  function loadSite() {
    loadBookings();
    loadNotify();
    var site = "site=" + encodeURIComponent(state.site);
    Promise.all([
      getJSON("/api/v1/stats?" + query(site + "&group_by=day")),
      getJSON("/api/v1/stats/distribution?" + query(site)),
      getJSON("/api/v1/stats?" + query(site + "&group_by=hour")),
      getJSON("/api/v1/stats?" + query(site + "&group_by=counter")),
      getJSON("/api/v1/stats?" + query(site + "&group_by=site")),
      getJSON("/api/v1/stats?" + query(site + "&group_by=service")),
    ]).then(function (parts) {
      chartDays(parts[0].rows);
      chartDistribution(parts[1]);
      chartHours(parts[2].rows);
      chartCounters(parts[3].rows);
      var s = parts[4].rows[0];
      document.getElementById("site-summary").textContent = s
        ? _("% within target") + ": " + pct(s.pct_within_target) + " · " + _("Received") + ": " + s.received + " · " + _("Issued") + ": " + s.issued
          + " · " + _("Satisfied") + ": " + (s.ratings ? pct(s.satisfaction_pct) + " (" + s.ratings + " " + _("Ratings").toLowerCase() + ")" : "–")
          + parts[5].rows.filter(function (r) { return r.ratings; }).map(function (r) {
              return " · " + r.service + ": " + pct(r.satisfaction_pct);
            }).join("")
        : _("No data for this period.");
      showError("");
    }).catch(function (e) { showError(_("Could not load data") + ": " + e.message); });
  }

  function loadLeague() {
    return getJSON("/api/v1/stats?" + query("group_by=site")).then(renderLeague)
      .catch(function (e) { showError(_("Could not load data") + ": " + e.message); });
  }

  var alertLabels = { ticket_at_risk: "Ticket at risk", counter_paused: "Counter paused", device_offline: "Device offline", device_fault: "Device fault" };
  var partLabels = { printer: "Printer" };
  function alertLabel(a) {
    // past the target already is not "about to be late"
    if (a.kind === "ticket_at_risk" && a.detail.age_s >= a.detail.target_s) return _("Ticket past the target");
    return _(alertLabels[a.kind]);
  }
  function alertText(a, name) {
    var d = a.detail;
    if (a.kind === "ticket_at_risk") return name + ": " + d.number + " — " + fmtMin(d.age_s) + (d.counter ? " (" + (d.counter_name || d.counter) + ")" : "");
    if (a.kind === "counter_paused") return name + ": " + (d.counter_name || d.counter) + " — " + fmtMin(d.paused_s) + (d.reason ? " (" + d.reason + ")" : "") + ", " + d.waiting_for_it + " " + _("waiting for it");
    return name + ": " + d.device + (d.part !== "device" ? " · " + _(partLabels[d.part] || d.part) : "") + " — " + _(d.problem);
  }
  function renderLive(body) {
    var list = document.getElementById("alerts"), tbody = document.querySelector("#live-table tbody");
    list.innerHTML = "";
    tbody.innerHTML = "";
    var count = 0;
    var sites = body.sites.slice().sort(function (a, b) { return b.alerts.length - a.alerts.length || b.waiting - a.waiting; });
    sites.forEach(function (s) {
      s.alerts.forEach(function (a) {
        count++;
        var li = el("li", "", "alert " + a.kind);
        li.appendChild(el("strong", alertLabel(a) + " "));
        li.appendChild(document.createTextNode(alertText(a, s.name)));
        list.appendChild(li);
      });
      var tr = el("tr");
      if (s.at_risk.length) tr.className = "risk";
      tr.appendChild(el("td", s.name, "name"));
      tr.appendChild(el("td", String(s.waiting), "num"));
      tr.appendChild(el("td", fmtMin(s.longest_wait_s), "num"));
      tr.appendChild(el("td", s.open_counters + "/" + s.counters.length, "num"));
      tr.appendChild(el("td", String(s.at_risk.length), "num"));
      tbody.appendChild(tr);
    });
    if (!count) list.appendChild(el("li", _("No alerts."), "muted"));
    // The time the server took these figures, on its clock and site-local ("2026-12-03T08:41:07+07:00"):
    // never the browser's clock, which a demo's sped-up day does not follow.
    var at = body.sites.length ? body.sites[0].evaluated_at : "";
    document.getElementById("live-updated").textContent = _("Updated") + " " + (at ? at.slice(11, 19) : "–");
  }
  function loadLive() {
    getJSON("/api/v1/live").then(renderLive).catch(function (e) {
      document.getElementById("live-updated").textContent = _("Could not load data") + ": " + e.message;
    });
  }

  // Dates are checked here, in the user's words, before anything is asked of the server.
  function dateProblem(text, day) {
    if (!day) return _("Enter dates as dd/mm/yyyy, e.g. {example}.").replace("{example}", dmy(root.dataset.today)) + " (" + text + ")";
    var year = +day.slice(0, 4), last = +root.dataset.today.slice(0, 4) + 1;
    if (year < 2000 || year > last) return _("Dates from 2000 to {year} only.").replace("{year}", last) + " (" + text + ")";
    return "";
  }
  function applyFilters() {
    var f = iso(fromInput.value), t = iso(toInput.value);
    var problem = dateProblem(fromInput.value, f) || dateProblem(toInput.value, t);
    if (!problem && f > t) problem = _("The start date must not be after the end date.");
    if (problem) { showError(problem); return; }
    state.from = f; state.to = t;
    loadLeague();
    loadSite();
  }
  document.getElementById("filters").addEventListener("submit", function (e) { e.preventDefault(); applyFilters(); });
  document.getElementById("preset").addEventListener("change", function () {
    var today = new Date(root.dataset.today + "T00:00:00Z"), from = new Date(today), to = new Date(today);
    var v = this.value;
    if (v === "30") from.setUTCDate(from.getUTCDate() - 29);
    else if (v === "month") from.setUTCDate(1);
    else if (v === "prev-month") { from = new Date(Date.UTC(today.getUTCFullYear(), today.getUTCMonth() - 1, 1)); to = new Date(Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), 0)); }
    else if (v === "year") from = new Date(Date.UTC(today.getUTCFullYear(), 0, 1));
    else return;
    fromInput.value = dmy(from.toISOString().slice(0, 10));
    toInput.value = dmy(to.toISOString().slice(0, 10));
    applyFilters();
  });
  siteSelect.addEventListener("change", function () { state.site = siteSelect.value; loadSite(); loadLeague(); });

  var params = new URLSearchParams(location.search);
  if (params.get("from")) state.from = params.get("from");
  if (params.get("to")) state.to = params.get("to");
  if (params.get("site")) { siteSelect.value = params.get("site"); state.site = siteSelect.value; }
  fromInput.value = dmy(state.from);
  toInput.value = dmy(state.to);
  loadLeague();
  loadSite();
  loadLive();
  setInterval(loadLive, 5000);
})();
