/* Desk console, bookings (docs/booking.md): check a citizen in by booking code, and
   today's bookings per slot with who has checked in. Plain JavaScript, no CDN. */
(function () {
  "use strict";
  var box = document.getElementById("bookings");
  if (!box) { return; }
  var site = box.dataset.site, counter = box.dataset.counter;
  var csrf = document.querySelector('meta[name="csrf-token"]').content;
  var T = JSON.parse(document.getElementById("texts").textContent);
  var list = document.getElementById("booking-list"), message = document.getElementById("checkin-message");
  var base = "/api/v1/sites/" + encodeURIComponent(site);

  function item(b) {
    var li = document.createElement("li");
    li.className = b.checked_in ? "checked" : "";
    var slot = document.createElement("span");
    slot.className = "slot";
    slot.textContent = b.slot || box.dataset.online;
    var number = document.createElement("b");
    number.textContent = b.number || "";
    var state = document.createElement("span");
    state.textContent = b.checked_in ? box.dataset.checked : box.dataset.waiting;
    var code = document.createElement("code");
    code.textContent = b.code;
    li.append(slot, " ", code, " ", number, " ", state);
    return li;
  }

  function load() {
    fetch(base + "/bookings/today", { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (!data) { return; }
        list.replaceChildren.apply(list, data.bookings.length ? data.bookings.map(item) : [Object.assign(document.createElement("li"), { textContent: box.dataset.none })]);
      }).catch(function () {});
  }

  document.getElementById("checkin-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var input = document.getElementById("checkin-code");
    fetch(base + "/check-in", {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf, "Accept": "application/json" },
      body: JSON.stringify({ code: input.value.trim(), counter: counter })
    }).then(function (r) { return r.json().then(function (d) { return { ok: r.ok, data: d }; }); })
      .then(function (result) {
        if (result.ok) {
          message.textContent = box.dataset.ok.replace("{number}", result.data.number);
          message.className = "message ok";
          input.value = "";
          load();
        } else {
          message.textContent = T["error:" + result.data.code] || ((T["Error"] || "Error") + ": " + result.data.code);
          message.className = "message bad";
        }
      }).catch(function () { message.textContent = T["Error"] || "Error"; message.className = "message bad"; });
  });
  load();
  setInterval(load, 30000);
})();
