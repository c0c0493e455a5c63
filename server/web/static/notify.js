/* Alerts on the citizen's ticket page (server/web/routes/notify.py): polls the ticket's
   notices, and at a new one ("near", "called", "recalled") shows it in the page, plays a
   short chime (Web Audio, no sound file), vibrates, changes the tab title and, when the
   citizen allowed it, shows a system notification. A kind alerts once per browser
   (localStorage). The "alert me" button asks the permission, unlocks sound on phones and,
   where the office sends Web Push, subscribes this browser. No personal data unless the
   citizen types a phone number and ticks the consent box. Plain ES5; no external assets. */
(function () {
  "use strict";
  var root = document.getElementById("ticket");
  var box = document.getElementById("alerts");
  if (!root || !box) { return; }
  var id = root.getAttribute("data-id");
  var api = "/api/v1/tickets/" + encodeURIComponent(id);
  var pollMs = (+root.getAttribute("data-poll") || 5) * 1000;
  var number = document.getElementById("number").textContent;
  var baseTitle = document.title;
  var storeKey = "xephang-alerted-" + id;
  var audio = null, registration = null, pushKey = null, timer = null, polls = 0;

  function $(name) { return document.getElementById(name); }
  function show(name, on) { if (on) { $(name).removeAttribute("hidden"); } else { $(name).setAttribute("hidden", ""); } }
  function said(kind) { return box.getAttribute("data-" + kind) || ""; }
  function alerted() {
    try { return JSON.parse(localStorage.getItem(storeKey) || "[]"); } catch (e) { return []; }
  }
  function remember(kind) {
    var seen = alerted();
    seen.push(kind);
    try { localStorage.setItem(storeKey, JSON.stringify(seen)); } catch (e) { /* private mode: alert again */ }
  }

  function chime() {
    var Context = window.AudioContext || window.webkitAudioContext;
    if (!Context) { return; }
    if (!audio) { audio = new Context(); }
    var play = function () {
      var t = audio.currentTime;
      for (var i = 0; i < 3; i++) {
        var osc = audio.createOscillator(), gain = audio.createGain();
        osc.frequency.value = i === 2 ? 1175 : 880;
        gain.gain.setValueAtTime(0.25, t + i * 0.35);
        gain.gain.exponentialRampToValueAtTime(0.001, t + i * 0.35 + 0.3);
        osc.connect(gain); gain.connect(audio.destination);
        osc.start(t + i * 0.35); osc.stop(t + i * 0.35 + 0.3);
      }
      if (audio.state === "running") { root.setAttribute("data-sound", "played"); }
    };
    if (audio.state === "suspended" && audio.resume) { audio.resume().then(play, function () {}); } else { play(); }
  }

  function systemNotice(title, text, kind) {
    if (!("Notification" in window) || Notification.permission !== "granted") { return; }
    var options = { body: text, tag: "xephang-" + kind, renotify: true, requireInteraction: kind !== "near" };
    var mark = function () { root.setAttribute("data-notified", kind); };
    if (registration && registration.showNotification) {
      registration.showNotification(title, options).then(function () {
        return registration.getNotifications({ tag: options.tag });
      }).then(function (shown) { if (shown && shown.length) { mark(); } }, function () {});
    } else {
      try { var n = new Notification(title, options); n.onshow = mark; } catch (e) { /* some phones allow only the worker */ }
    }
  }

  function alertFor(notice) {
    var title = said(notice.kind === "near" ? "near" : "called");
    $("notice-title").textContent = title;
    $("notice-text").textContent = notice.text;
    $("notice").className = "notice notice-" + notice.kind;
    show("notice", true);
    document.title = "\uD83D\uDD14 " + title + " \u2014 " + number;
    if (navigator.vibrate) { navigator.vibrate(notice.kind === "near" ? [200, 100, 200] : [400, 150, 400, 150, 400]); }
    chime();
    systemNotice(title, notice.text, notice.kind);
    root.setAttribute("data-alerted", notice.kind);
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

  function finished() { return /st-(serving|completed|no_show|closed)/.test(root.className); }

  function poll() {
    request("GET", api + "/notices", null, function (status, data) {
      if (status === 200 && data) {
        pushKey = data.push_key;
        var seen = alerted();
        for (var i = 0; i < data.notices.length; i++) {
          var notice = data.notices[i];
          if (seen.indexOf(notice.kind) < 0) { remember(notice.kind); alertFor(notice); }
        }
        phoneForm(data.phone_channels, data.subscribed);
      }
      polls += 1;
      root.setAttribute("data-polls", String(polls));
      show("alerts", !finished());
      if (!finished()) { timer = setTimeout(poll, pollMs); }
    });
  }

  function phoneForm(channels, subscribed) {
    var select = $("phone-channel");
    var open = channels.filter(function (c) { return subscribed.indexOf(c) < 0; });
    if (select.options.length !== open.length) {
      select.innerHTML = "";
      for (var i = 0; i < open.length; i++) {
        var option = document.createElement("option");
        option.value = open[i];
        option.textContent = open[i] === "zalo" ? "Zalo" : "SMS";
        select.appendChild(option);
      }
    }
    show("phone-form", open.length > 0);
  }

  function base64ToBytes(text) {
    var padded = (text + "===".slice((text.length + 3) % 4)).replace(/-/g, "+").replace(/_/g, "/");
    var raw = atob(padded), bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) { bytes[i] = raw.charCodeAt(i); }
    return bytes;
  }

  function subscribePush() {
    if (!registration || !pushKey || !registration.pushManager) { return; }
    registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: base64ToBytes(pushKey) })
      .then(function (sub) {
        request("POST", api + "/subscribe", { channel: "webpush", subscription: sub.toJSON() }, function () {});
      }, function () { /* no push service reachable: the page still alerts while open */ });
  }

  function turnOn() {
    var Context = window.AudioContext || window.webkitAudioContext;
    if (Context && !audio) { audio = new Context(); }  // created in a tap: phones then allow sound
    if (audio && audio.resume) { audio.resume(); }
    var state = $("notify-state");
    var ready = function (permission) {
      state.textContent = permission === "denied" ? said("blocked") : said("on");
      root.setAttribute("data-permission", permission);
      if (permission === "granted") { subscribePush(); }
    };
    if ("Notification" in window) {
      var asked = Notification.requestPermission(ready);
      if (asked && asked.then) { asked.then(ready); }
    } else {
      ready("default");
    }
  }

  $("notify-on").addEventListener("click", turnOn);
  $("phone-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var message = $("phone-message");
    if (!$("phone-consent").checked) { message.textContent = said("consent"); return; }
    request("POST", api + "/subscribe", { channel: $("phone-channel").value, phone: $("phone").value, consent: true },
      function (status, data) {
        $("phone").value = "";
        message.textContent = status === 201 ? said("saved") : (data && data.code === "invalid_phone" ? said("badphone") : said("failed"));
      });
  });
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("/notify-sw.js", { scope: "/t/" }).then(function (reg) {
      registration = reg;
      root.setAttribute("data-worker", "ready");
    }, function () { root.setAttribute("data-worker", "failed"); });
  }
  if ("Notification" in window && Notification.permission === "granted") { $("notify-state").textContent = said("on"); }
  document.addEventListener("visibilitychange", function () { if (!document.hidden) { document.title = baseTitle; } });
  poll();
}());
