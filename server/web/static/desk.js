/* xephang desk console: live view over server-sent events, actions as POSTs with the
   session's CSRF token, keyboard shortcuts. Plain JavaScript, no framework, no CDN. */
(function () {
  "use strict";
  var root = document.getElementById("desk");
  if (!root) { return; }
  var site = root.dataset.site, counter = root.dataset.counter, locale = root.dataset.locale;
  var canAct = root.dataset.canAct === "yes";
  var supervisor = root.dataset.supervisor === "yes";
  var kiosks = (root.dataset.kiosks || "").split(" ").filter(Boolean);  // devices that can print a ticket again
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

  // A booked slot or a number taken on a phone (docs/booking.md): the same mark as the board's.
  var CHANNEL_MARKS = { appointment: "Booked slot", online: "Remote number" };
  function channelMark(channel) {
    return CHANNEL_MARKS[channel] ? el("span", "tag channel " + channel, t(CHANNEL_MARKS[channel])) : null;
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
    var channel = $("cur-channel");
    channel.hidden = !(cur && CHANNEL_MARKS[cur.channel]);
    channel.textContent = cur && CHANNEL_MARKS[cur.channel] ? t(CHANNEL_MARKS[cur.channel]) : "";
    $("cur-service").textContent = cur ? cur.service_name + (cur.priority ? " · " + t("Priority") : "") +
      (cur.channel === "return" ? " · " + t("Additional documents") : "") : t("No ticket in progress");
    $("cur-status").textContent = cur ? (cur.status === "serving" ? t("Serving") : t("Called")) : "";
    $("cur-target").textContent = cur && cur.target_s ? Math.round(cur.target_s / 60) + " " + t("minutes") : "—";
    tick();
  }

  function tick() {
    // Every age first: a console with no ticket in progress shows the waits too.
    document.querySelectorAll("[data-issued]").forEach(function (node) {
      node.textContent = clock(nowS() - Number(node.dataset.issued));
    });
    if (view && riskSplit(view) !== riskShown) { renderRisk(view); }
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
  }

  function renderWaiting(v) {
    var box = $("waiting");
    box.replaceChildren();
    v.services.forEach(function (service) {
      var group = el("div", "service" + (service.own ? " own" : ""));
      var head = el("h3", null, service.name + " ");
      head.appendChild(el("span", "count", String(service.waiting)));
      if (service.wait_text) { head.appendChild(el("span", "eta", service.wait_text)); }
      group.appendChild(head);
      var list = el("ol", "tickets");
      (v.waiting[service.id] || []).forEach(function (ticket) {
        var item = el("li", ticket.priority ? "priority" : "");
        item.appendChild(el("span", "num", ticket.number));
        if (ticket.unconfirmed) { item.appendChild(unconfirmedMark()); }
        var mark = channelMark(ticket.channel);
        if (mark) { item.appendChild(mark); }
        // An online number is not called before its citizen checks in.
        if (ticket.channel === "online" && !ticket.checked_in_at) { item.appendChild(el("span", "tag absent", t("Not checked in yet"))); }
        if (ticket.priority) { item.appendChild(el("span", "tag", t("Priority"))); }
        if (ticket.channel === "return") { item.appendChild(el("span", "tag second-visit", t("Additional documents"))); }
        if (ticket.requeued_count) { item.appendChild(el("span", "tag", t("Missed a call"))); }
        var age = el("span", "age");
        age.dataset.issued = ticket.issued_at;
        item.appendChild(age);
        if (ticket.wait_text) { item.appendChild(el("span", "eta", ticket.wait_text)); }
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

  // At risk, split in two: past the target already, and about to pass it.
  var riskShown = "";
  function overTarget(ticket) { return nowS() - ticket.issued_at >= ticket.target_s; }
  function riskSplit(v) { return v.at_risk.map(function (t) { return overTarget(t) ? "o" : "n"; }).join(""); }
  function renderRisk(v) {
    riskShown = riskSplit(v);
    var lists = { over: $("over-target"), near: $("at-risk") };
    lists.over.replaceChildren(); lists.near.replaceChildren();
    v.at_risk.forEach(function (ticket) {
      var kind = overTarget(ticket) ? "over" : "near";
      var item = el("li", kind);
      item.appendChild(el("span", "num", ticket.number));
      if (ticket.unconfirmed) { item.appendChild(unconfirmedMark()); }
      var where = ticket.status === "waiting" ? t("Waiting") : t("at counter") + " " + (v.counter_numbers[ticket.counter] || ticket.counter || "");
      item.appendChild(el("span", "what", where));
      var age = el("span", "age", clock(nowS() - ticket.issued_at));
      age.dataset.issued = ticket.issued_at;
      item.appendChild(age);
      lists[kind].appendChild(item);
    });
    ["over", "near"].forEach(function (kind) {
      if (!lists[kind].children.length) { lists[kind].appendChild(el("li", "none", "—")); }
    });
  }

  // A button is enabled only when its action can apply to the counter as it is now.
  function renderButtons(v) {
    var cur = v.current, state = v.counter.state;
    var waitingForMe = v.services.some(function (s) { return s.own && s.waiting > 0; });
    var can = {
      next: !cur && state !== "paused" && waitingForMe,
      recall: !!cur && cur.status === "called",
      start: !!cur && cur.status === "called",
      "no-show": !!cur,
      reprint: !!cur && kiosks.indexOf(cur.source) >= 0,  // only a ticket a kiosk of this site printed
      complete: !!cur,
      transfer: !!cur && $("transfer-to") && !$("transfer-to").selectedOptions[0].disabled,
      pause: state !== "paused" && !cur,
      resume: state !== "open",
      close: state !== "closed" && !cur
    };
    document.querySelectorAll(".actions button[data-action], .complete button[data-action]").forEach(function (button) {
      button.disabled = !canAct || !can[button.dataset.action];
    });
  }

  // The transfer list never offers the ticket's own service (that transfer is refused).
  function renderTransfer(v) {
    var select = $("transfer-to");
    if (!select) { return; }
    var own = v.current ? v.current.service : null, first = null;
    Array.prototype.forEach.call(select.options, function (option) {
      option.disabled = option.value === own;
      if (!option.disabled && first === null) { first = option; }
    });
    if (select.selectedOptions[0] && select.selectedOptions[0].disabled && first) { first.selected = true; }
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
    renderTransfer(v); renderButtons(v);
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

  // What was done, in words: "Đã gọi số A010", "A010: Trả kết quả", "Đã chuyển A010 sang …".
  function doneText(action, body, data) {
    var number = data.number || "";
    var outcome = { returned: "Result returned", appointment: "Received, appointment", guided: "Guided (incomplete)", info: "Information only" };
    var service = $("transfer-to") && $("transfer-to").selectedOptions[0] ? $("transfer-to").selectedOptions[0].textContent : "";
    var texts = {
      next: "Called {number}", call: "Called {number}", recall: "Called {number} again", start: "Receiving {number}",
      "no-show": "{number}: no-show recorded", transfer: "{number} moved to {service}",
      pause: "Counter paused: {reason}", resume: "Counter open", open: "Counter open", close: "Counter closed",
      reprint: "Reprint of {number} sent to {kiosk}"
    };
    var text = action === "complete" ? number + ": " + t(outcome[body.outcome]) : t(texts[action] || "Done");
    // The missed-call rule sent the ticket back to the queue instead (docs/desk.md).
    if (action === "no-show" && data.status === "waiting") {
      text = t("{number} did not come: back in the queue ({count})").replace("{count}", String(data.requeued_count));
    }
    return text.replace("{kiosk}", data.kiosk || "").replace("{number}", number).replace("{service}", service).replace("{reason}", body && body.reason || "");
  }

  function act(button) {
    if (busy || !canAct || button.disabled) { return; }
    var action = button.dataset.action, body = null;
    if (action === "complete") {
      body = { outcome: button.dataset.outcome };
      var code = $("dossier").value.trim();
      if (code) { body.dossier_code = code; }
      if (body.outcome === "guided" && $("return-code") && $("return-code").checked) { body.return_code = true; }
    } else if (action === "transfer") {
      body = { to_service: $("transfer-to").value };
    } else if (action === "call") {
      body = { ticket_id: button.dataset.ticket };
    } else if (action === "reprint") {
      if (!view || !view.current) { return; }
      body = { ticket_id: view.current.ticket_id };
    } else if (action === "pause") {
      var reason = $("pause-reason").value === "other" ? $("pause-other").value.trim() : $("pause-reason").value;
      if (!reason) {
        say(t("Choose a reason for the pause."), "bad");
        ($("pause-reason").value === "other" ? $("pause-other") : $("pause-reason")).focus();
        return;
      }
      body = { reason: reason };
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
        var done = doneText(action, body, result.data);
        if (result.data.return_code) {
          done += " · " + t("Return code for the citizen: {code}").replace("{code}", result.data.return_code.code);
        }
        say(done, "ok");
        if (action === "complete") { $("dossier").value = ""; if ($("return-code")) { $("return-code").checked = false; } }
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
  if ($("pause-reason")) {
    $("pause-reason").addEventListener("change", function () {
      $("pause-other").hidden = $("pause-reason").value !== "other";
      if (!$("pause-other").hidden) { $("pause-other").focus(); }
    });
  }
  if ($("transfer-to")) { $("transfer-to").addEventListener("change", function () { if (view) { renderButtons(view); } }); }
  document.addEventListener("keydown", function (event) {
    var tag = (event.target.tagName || "").toLowerCase();
    // A ticked box (the return code) keeps the shortcuts: "3" right after ticking it.
    if ((tag === "input" && event.target.type !== "checkbox") || tag === "select" || tag === "textarea" || event.ctrlKey || event.altKey || event.metaKey) { return; }
    var button = document.querySelector('button[data-key="' + event.key.toLowerCase() + '"]');
    if (button) { event.preventDefault(); act(button); }
  });
  setInterval(tick, 1000);
  connect();
})();
