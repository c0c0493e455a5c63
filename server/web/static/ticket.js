/* The citizen's ticket page: polls its own ticket's public JSON every few seconds
   (slower once served, never while the page is hidden) and sends the one rating.
   Plain ES5 and XMLHttpRequest, so old phones' browsers run it; no external assets. */
(function () {
  "use strict";
  var root = document.getElementById("ticket");
  if (!root) { return; }
  var T = JSON.parse(document.getElementById("texts").textContent);
  var view = JSON.parse(document.getElementById("initial").textContent);
  var api = "/api/v1/tickets/" + encodeURIComponent(root.getAttribute("data-id"));
  var lang = root.getAttribute("data-lang");
  var pollMs = (+root.getAttribute("data-poll") || 5) * 1000;
  var timer = null, failures = 0, sending = false;
  var STATUS = { waiting: "Waiting", called: "Your number is being called", serving: "Being served",
                 completed: "Completed", no_show: "Not present when called",
                 closed: "Closed at the end of the day" };

  function $(id) { return document.getElementById(id); }
  function t(key, vars) {
    var text = T[key] || key;
    for (var name in vars) { text = text.replace("{" + name + "}", vars[name]); }
    return text;
  }
  function text(id, value) { $(id).textContent = value == null ? "" : value; }
  function show(id, on) { if (on) { $(id).removeAttribute("hidden"); } else { $(id).setAttribute("hidden", ""); } }

  function waitText(v) {
    if (v.wait_text) { return v.wait_text; }  // the server's words for the estimator's range
    if (v.people_ahead === 0) { return t("You are next"); }
    if (v.estimated_wait_s == null) { return "—"; }
    return t("about {minutes} min", { minutes: Math.max(1, Math.ceil(v.estimated_wait_s / 60)) });
  }

  function render(v) {
    view = v;
    root.className = "st-" + v.status;
    text("number", v.number);
    text("spoken-words", v.spoken.number);
    show("spoken", !!v.spoken.number);
    text("service", v.service);
    text("status", t(STATUS[v.status] || "Unknown"));
    var calling = !!v.counter && (v.status === "called" || v.status === "serving");
    show("call", calling);
    if (v.counter) {
      text("go", t("Please go to counter {counter}", { counter: v.counter.number }));
      text("counter-name", v.counter.name);
    }
    show("go", v.status === "called");
    text("sentence", v.spoken.call);
    show("sentence", !!v.spoken.call);
    show("queue", v.status === "waiting");
    if ($("documents")) { show("documents", v.status === "waiting" || v.status === "called"); }
    text("ahead", v.people_ahead == null ? "—" : v.people_ahead);
    text("wait", v.status === "waiting" ? waitText(v) : "");
    show("rate", v.status === "completed" && !v.rated);
    show("thanks", !!v.rated);
    // this ticket's return code (docs/second-visit.md), on a page opened before completion
    if ($("return-code")) { show("return-code", !!v.return_code); }
    if (v.return_code && $("return-code")) {
      text("return-code-text", v.return_code.code);
      text("return-until", t("Valid until {day}", { day: v.return_code.valid_until }));
    }
    // the server's time of this reading, site-local: never the phone's clock
    if (v.updated_at) text("updated", t("Updated {time}", { time: v.updated_at.slice(11, 19) }));
  }

  function request(method, url, body, done) {
    var xhr = new XMLHttpRequest();
    xhr.open(method, url, true);
    xhr.timeout = 15000;
    xhr.setRequestHeader("Accept", "application/json");
    if (body) { xhr.setRequestHeader("Content-Type", "application/json"); }
    xhr.onload = function () {
      var data = null;
      try { data = JSON.parse(xhr.responseText); } catch (e) { data = null; }
      done(xhr.status, data);
    };
    xhr.onerror = xhr.ontimeout = function () { done(0, null); };
    xhr.send(body ? JSON.stringify(body) : null);
  }

  function finished() { return view.rated || view.status === "no_show" || view.status === "closed"; }

  function schedule() {
    clearTimeout(timer);
    if (finished()) { return; }
    var delay = view.status === "completed" ? 30000 : pollMs;
    timer = setTimeout(refresh, Math.min(delay * Math.pow(2, Math.min(failures, 3)), 60000));
  }

  function refresh() {
    if (document.hidden) { schedule(); return; }
    request("GET", api + "?lang=" + lang, null, function (status, data) {
      if (status === 200 && data) {
        failures = 0;
        text("message", "");
        render(data);
      } else {
        failures += 1;
        text("message", t("Connection lost, retrying…"));
      }
      schedule();
    });
  }

  function rate(value) {
    if (sending) { return; }
    sending = true;
    var buttons = $("rate").getElementsByTagName("button");
    for (var i = 0; i < buttons.length; i++) { buttons[i].disabled = true; }
    request("POST", api + "/rating", { rating: value, scale: "4-level" }, function (status, data) {
      sending = false;
      for (var j = 0; j < buttons.length; j++) { buttons[j].disabled = false; }
      var code = data && data.code;
      if (status === 201 || code === "already_rated") {
        view.rated = true;
        render(view);
        text("message", status === 201 ? "" : t("This ticket has already been rated."));
        clearTimeout(timer);
      } else if (code === "not_completed") {
        text("message", t("Rating is possible once the service is completed."));
      } else if (status === 429) {
        text("message", t("Too many attempts, please try again in a few minutes."));
      } else {
        text("message", t("Could not send, please try again."));
      }
    });
  }

  $("rate").addEventListener("click", function (event) {
    var value = event.target && event.target.getAttribute("data-rating");
    if (value) { rate(+value); }
  });
  document.addEventListener("visibilitychange", function () { if (!document.hidden) { refresh(); } });
  render(view);
  schedule();
}());
