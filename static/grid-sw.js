/* The grid worker's service worker: with no network, a page of /grid/ that cannot load is replaced
   by the offline page (what waits to be sent, and that records need the network). It keeps the
   portal's own style and scripts and that page only; no record of a person is ever cached. */
var CACHE = "bridge-grid-v1";
var KEPT = [
  "/grid/offline",
  "/static/app.css",
  "/static/waiting-contacts.js",
  "/static/vendor/idb-keyval-6.3.0/idb-keyval.umd.js",
];

self.addEventListener("install", function (event) {
  event.waitUntil(caches.open(CACHE).then(function (cache) { return cache.addAll(KEPT); }));
});

self.addEventListener("activate", function (event) {
  event.waitUntil(caches.keys().then(function (names) {
    return Promise.all(names.filter(function (name) { return name !== CACHE; }).map(function (name) {
      return caches.delete(name);
    }));
  }));
});

self.addEventListener("fetch", function (event) {
  var request = event.request;
  if (request.method !== "GET") return;
  var url = new URL(request.url);
  if (request.mode === "navigate") {
    event.respondWith(fetch(request).catch(function () { return caches.match("/grid/offline"); }));
  } else if (KEPT.indexOf(url.pathname) >= 0) {
    event.respondWith(fetch(request).catch(function () { return caches.match(url.pathname); }));
  }
});
