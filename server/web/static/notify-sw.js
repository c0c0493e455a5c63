/* Service worker of the ticket pages (scope /t/): shows a message that Web Push brings
   while the page is closed, and opens the ticket page when the notification is tapped.
   The payload is {title, body, url, tag}; nothing else is stored. */
self.addEventListener("push", function (event) {
  var data = {};
  try { data = event.data ? event.data.json() : {}; } catch (e) { data = { title: event.data.text() }; }
  event.waitUntil(self.registration.showNotification(data.title || "xephang", {
    body: data.body || "", tag: data.tag || "xephang", renotify: true, data: { url: data.url || "/" }
  }));
});
self.addEventListener("notificationclick", function (event) {
  event.notification.close();
  var url = (event.notification.data && event.notification.data.url) || "/";
  event.waitUntil(self.clients.matchAll({ type: "window" }).then(function (list) {
    for (var i = 0; i < list.length; i++) {
      if (list[i].url.indexOf(url) >= 0 && list[i].focus) { return list[i].focus(); }
    }
    return self.clients.openWindow ? self.clients.openWindow(url) : null;
  }));
});
