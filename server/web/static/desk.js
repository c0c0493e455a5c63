/* xephang desk console: live view over server-sent events, actions as POSTs with the
   session's CSRF token, keyboard shortcuts. Plain JavaScript, no framework, no CDN. */
(function () {
  "use strict";
  var root = document.getElementById("desk");
  if (!root) { return; }
  var site = root.dataset.site, counter = root.dataset.counter, locale = root.dataset.locale;
  var canAct = root.dataset.canAct === "yes";
  var supervisor = root.dataset.supervisor === "yes";
  var UNCONFIRMED = root.dataset.unconfirmed, UNCONFIRMED_HELP = root.dataset.unconfirmedHelp;
  var T = JSON.parse(document.getElementById("texts").textContent);
  var NAMES = JSON.parse(document.getElementById("total-names").textContent);
  var csrf = document.querySelector('meta[name="csrf-token"]').content;
  var base = "/api/v1/sites/" + encodeURIComponent(site) + "/counters/" + encodeURIComponent(counter);
  // The server's clock, not the browser's: its time at the last update, the browser's time
  // then, and how many server seconds pass per real second (a demo runs faster).
  var view = null, serverS = Date.now() / 1000, seenS = Date.now() / 1000, rate = 1, busy = false;
  function t(key) { return T[key] || key; }
  function $(id) { return document.getElementById(id); }
  function nowS() { return serverS + (Date.now() / 1000 - seenS) * rate; }

  function clock(seconds) {
    seconds = Math.max(0, Math.floor(seconds));
    var h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
    var mm = (h ? String(m).padStart(2, "0") : String(m)) + ":" + String(s).padStart(2, "0");
    return h ? h + ":" + mm : mm;
  }

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) { node.className = cls; }
    if (text !== undefined && text !== null) { node.textContent = text; }
    return node;
  }

  // The kiosk published this number without a confirmed print: it may have no slip.
  function unconfirmedMark() {
    var mark = el("span", "tag unconfirmed", UNCONFIRMED);
    mark.title = UNCONFIRMED_HELP;
    return mark;
  }

  function say(text, kind) {
    var box = $("message");
    box.textContent = text || "";
    box.className = "message " + (kind || "");
  }

  function renderCounter(v) {
    var state = v.counter.state;
    var label = { open: t("Open"), paused: t("Paused"), closed: t("Closed") }[state] || state;
    if (state === "paused" && v.counter.reason) { label += ": " + v.counter.reason; }
    var badge = $("counter-state");
    badge.textContent = label;
    badge.className = "state " + state;
  }

  function renderCurrent(v) {
    var cur = v.current;
    $("current").className = "current" + (cur ? " active" : "");
    $("cur-number").textContent = cur ? cur.number : "—";
    var mark = $("cur-unconfirmed");
    mark.hidden = !(cur && cur.unconfirmed);
    mark.textContent = UNCONFIRMED;
    mark.title = UNCONFIRMED_HELP;
    $("cur-service").textContent = cur ? cur.service_name + (cur.priority ? " · " + t("Priority") : "") : t("No ticket in progress");
    $("cur-status").textContent = cur ? (cur.status === "serving" ? t("Serving") : t("Called")) : "";
    $("cur-target").textContent = cur && cur.target_s ? Math.round(cur.target_s / 60) + " " + t("minutes") : "—";
    tick();
  }

  function tick() {
    var cur = view && view.current;
    var timer = $("cur-timer"), meter = $("cur-meter");
    if (!cur) { timer.textContent = "--:--"; meter.style.width = "0"; meter.className = ""; timer.className = "timer"; return; }
    var elapsed = nowS() - cur.issued_at;
    timer.textContent = clock(elapsed);
    var level = "ok";
    if (cur.target_s) {
      var share = elapsed / cur.target_s;
      level = share >= 1 ? "over" : share >= 0.75 ? "near" : "ok";
      meter.style.width = Math.min(100, share * 100).toFixed(1) + "%";
    } else { meter.style.width = "0"; }
    timer.className = "timer " + level;
    meter.className = level;
    document.querySelectorAll("[data-issued]").forEach(function (node) {
      node.textContent = clock(nowS() - Number(node.dataset.issued));
    });
  }

  function renderWaiting(v) {
    var box = $("waiting");
    box.replaceChildren();
    v.services.forEach(function (service) {
      var group = el("div", "service" + (service.own ? " own" : ""));
      var head = el("h3", null, service.name + " ");
      head.appendChild(el("span", "count", String(service.waiting)));
      group.appendChild(head);
      var list = el("ol", "tickets");
      (v.waiting[service.id] || []).forEach(function (ticket) {
        var item = el("li", ticket.priority ? "priority" : "");
        item.appendChild(el("span", "num", ticket.number));
        if (ticket.unconfirmed) { item.appendChild(unconfirmedMark()); }
        if (ticket.priority) { item.appendChild(el("span", "tag", t("Priority"))); }
        var age = el("span", "age");
        age.dataset.issued = ticket.issued_at;
        item.appendChild(age);
        if (supervisor) {
          var call = el("button", "call-one", "▶");
          call.title = t("Call this ticket now");
          call.dataset.action = "call";
          call.dataset.ticket = ticket.ticket_id;
          call.addEventListener("click", function () { act(call); });
          item.appendChild(call);
        }
        list.appendChild(item);
      });
      if (!service.waiting) { list.appendChild(el("li", "none", t("Nobody is waiting"))); }
      group.appendChild(list);
      box.appendChild(group);
    });
  }

  function renderRisk(v) {
    var list = $("at-risk");
    list.replaceChildren();
    v.at_risk.forEach(function (ticket) {
      var item = el("li", nowS() - ticket.issued_at >= ticket.target_s ? "over" : "near");
      item.appendChild(el("span", "num", ticket.number));
      if (ticket.unconfirmed) { item.appendChild(unconfirmedMark()); }
      var where = ticket.status === "waiting" ? t("Waiting") : t("at counter") + " " + (v.counter_numbers[ticket.counter] || ticket.counter || "");
      item.appendChild(el("span", "what", where));
      var age = el("span", "age");
      age.dataset.issued = ticket.issued_at;
      item.appendChild(age);
      list.appendChild(item);
    });
    if (!v.at_risk.length) { list.appendChild(el("li", "none", "—")); }
  }

  function renderFaults(v) {
    var list = $("faults");
    list.replaceChildren();
    v.faults.forEach(function (fault) {
      var problems = Object.keys(fault.problems).map(function (k) {
        return (T["fault:" + k] || k) + ": " + (T["fault:" + fault.problems[k]] || fault.problems[k]);
      });
      list.appendChild(el("li", "fault", fault.device + " — " + (problems.join(", ") || T["fault:" + fault.state] || fault.state)));
    });
    if (!v.faults.length) { list.appendChild(el("li", "none", t("No device faults"))); }
  }

  function renderTotals(v) {
    var box = $("totals");
    box.replaceChildren();
    NAMES.forEach(function (pair) {
      var key = pair[0], value = v.totals[key];
      if (key === "median_service_s") { value = value === null ? "—" : clock(value); }
      box.appendChild(el("dt", null, pair[1]));
      box.appendChild(el("dd", "total-" + key, String(value)));
    });
  }

  function render(v) {
    view = v;
    if (v.server_ts != null) { serverS = v.server_ts; seenS = Date.now() / 1000; rate = v.clock_rate || 1; }
    renderCounter(v); renderCurrent(v); renderWaiting(v); renderRisk(v); renderFaults(v); renderTotals(v);
    tick();
    root.dataset.version = String(Number(root.dataset.version || 0) + 1);
  }

  function connect() {
    var source = new EventSource("/desk/stream?site=" + encodeURIComponent(site) + "&counter=" +
      encodeURIComponent(counter) + "&lang=" + locale);
    source.addEventListener("view", function (event) {
      $("live").textContent = t("Live"); $("live").className = "live on";
      render(JSON.parse(event.data));
    });
    source.onerror = function () { $("live").textContent = t("Reconnecting…"); $("live").className = "live off"; };
  }

  function act(button) {
    if (busy || !canAct) { return; }
    var action = button.dataset.action, body = null;
    if (action === "complete") {
      body = { outcome: button.dataset.outcome };
      var code = $("dossier").value.trim();
      if (code) { body.dossier_code = code; }
    } else if (action === "transfer") {
      body = { to_service: $("transfer-to").value };
    } else if (action === "call") {
      body = { ticket_id: button.dataset.ticket };
    } else if (action === "pause") {
      body = { reason: $("pause-reason").value.trim() || null };
    }
    busy = true;
    document.body.classList.add("busy");
    fetch(base + "/" + action, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf, "Accept": "application/json" },
      body: body ? JSON.stringify(body) : null
    }).then(function (response) {
      return response.json().then(function (data) { return { ok: response.ok, status: response.status, data: data }; });
    }).then(function (result) {
      if (result.ok) {
        say(result.data.number ? result.data.number + " · " + t("Done") : t("Done"), "ok");
        if (action === "complete") { $("dossier").value = ""; }
      } else {
        say(T["error:" + result.data.code] || (t("Error") + ": " + (result.data.detail || result.data.code)), "bad");
        if (result.status === 401) { location.href = "/login?next=/desk"; }
      }
    }).catch(function () { say(t("Error"), "bad"); })
      .finally(function () { busy = false; document.body.classList.remove("busy"); });
  }

  document.querySelectorAll(".actions button[data-action], .complete button[data-action]").forEach(function (button) {
    button.addEventListener("click", function () { act(button); });
  });
  document.addEventListener("keydown", function (event) {
    var tag = (event.target.tagName || "").toLowerCase();
    if (tag === "input" || tag === "select" || tag === "textarea" || event.ctrlKey || event.altKey || event.metaKey) { return; }
    var button = document.querySelector('button[data-key="' + event.key.toLowerCase() + '"]');
    if (button) { event.preventDefault(); act(button); }
  });
  setInterval(tick, 1000);
  connect();
})();
