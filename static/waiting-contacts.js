/* A grid worker's contacts, recorded even with no network. The contact form is sent with fetch;
   when the network is down it is kept on this phone (IndexedDB, through idb-keyval) and sent when
   the network returns, with the one-time key its form carries, so the portal records it once
   however often it is sent. Only the contact form works offline: nothing is read offline. What is
   kept is the form as typed (the person's code, the outcome, a short note), deleted once sent or
   at sign-out. Without JavaScript the form posts as any other. */
(function () {
  "use strict";
  if (!window.idbKeyval || !window.fetch) return;
  var store = idbKeyval.createStore("bridge-waiting-contacts", "contacts");
  var banner = document.getElementById("waiting-contacts");

  function token() {
    var meta = document.querySelector("meta[name=csrf-token]");
    return meta ? meta.content : "";
  }

  function signInPage(response) {
    return new URL(response.url).pathname.indexOf("/auth/") === 0;
  }

  function send(entry, retried) {
    var body = new URLSearchParams(entry.fields);
    body.set("csrf_token", token());  // the page's own: a kept form's may have expired
    return fetch(entry.action, { method: "POST", body: body, credentials: "same-origin" }).then(function (response) {
      if (response.status !== 400 || retried) return response;
      // The page's token may have expired while the phone was offline: fetch a fresh one and try
      // once more. A session that ended meanwhile leads to the sign-in page, and the form waits.
      return fetch(banner.dataset.tokenFrom, { credentials: "same-origin" }).then(function (page) {
        if (signInPage(page)) return page;
        return page.text().then(function (html) {
          var found = html.match(/<meta name="csrf-token" content="([^"]+)">/);
          if (!found) return response;
          document.querySelector("meta[name=csrf-token]").content = found[1];
          return send(entry, true);
        });
      });
    });
  }

  function show(state) {
    if (!banner) return Promise.resolve();
    return idbKeyval.values(store).then(function (kept) {
      var waiting = kept.filter(function (entry) { return !entry.refused; });
      var refused = kept.filter(function (entry) { return entry.refused; });
      banner.hidden = kept.length === 0;
      banner.querySelector("[data-waiting]").textContent = waiting.length
        ? (waiting.length === 1 ? banner.dataset.one : banner.dataset.many.replace("{n}", waiting.length)) +
          (state === "sign-in" ? " " + banner.dataset.signIn : "")
        : "";
      banner.querySelector("[data-dismiss]").hidden = refused.length === 0;
      var list = banner.querySelector("[data-refused]");
      list.textContent = "";
      refused.forEach(function (entry) {
        var item = document.createElement("li");
        item.textContent = banner.dataset.refused.replace("{code}", entry.code);
        list.appendChild(item);
      });
    });
  }

  function keep(entry) {
    return idbKeyval.set(entry.fields.idempotency_key, entry, store).then(function () { return show(); });
  }

  var flushing = false;
  function flush() {
    if (flushing || !navigator.onLine) return show();
    flushing = true;
    var state = "";
    return idbKeyval.entries(store).then(function (entries) {
      var waiting = entries.filter(function (pair) { return !pair[1].refused; });
      return waiting.reduce(function (previous, pair) {
        return previous.then(function (stop) {
          if (stop) return true;
          return send(pair[1]).then(function (response) {
            if (signInPage(response)) { state = "sign-in"; return true; }
            if (response.ok) return idbKeyval.del(pair[0], store).then(function () { return false; });
            if (response.status >= 500) return true;  // try again later
            pair[1].refused = true;  // the portal will not record it as it is
            return idbKeyval.set(pair[0], pair[1], store).then(function () { return false; });
          }, function () { return true; });  // the network went again
        });
      }, Promise.resolve(false));
    }).then(function () { flushing = false; return show(state); }, function () { flushing = false; });
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.matches("form.grid-contact")) return;
    event.preventDefault();
    if (!form.reportValidity()) return;
    var entry = { action: form.action, fields: Object.fromEntries(new FormData(form)), code: form.dataset.code };
    var button = form.querySelector("button[type=submit]");
    button.disabled = true;
    send(entry).then(function (response) {
      if (response.ok && !signInPage(response)) { window.location.assign(response.url); return; }
      if (response.status >= 500 || signInPage(response)) {
        return keep(entry).then(function () { form.querySelector("[data-kept]").hidden = false; });
      }
      form.submit();  // refused: the portal's own page names what to correct
    }, function () {
      return keep(entry).then(function () { form.querySelector("[data-kept]").hidden = false; });
    });
  });

  if (banner) {
    banner.addEventListener("click", function (event) {
      if (!event.target.matches("[data-dismiss]")) return;
      idbKeyval.entries(store).then(function (entries) {
        return Promise.all(entries.filter(function (p) { return p[1].refused; }).map(function (p) {
          return idbKeyval.del(p[0], store);
        }));
      }).then(function () { return show(); });
    });
  }

  // Signing out deletes what waits on this phone, after saying what would be lost.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.matches("form[action$='/auth/logout']") || form.dataset.cleared) return;
    event.preventDefault();
    idbKeyval.keys(store).then(function (keys) {
      if (keys.length && banner && !window.confirm(banner.dataset.signOut.replace("{n}", keys.length))) return;
      return idbKeyval.clear(store).then(function () { form.dataset.cleared = "1"; form.submit(); });
    });
  });

  window.addEventListener("online", flush);
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register(document.body.dataset.gridWorker, { scope: document.body.dataset.gridScope });
  }
  flush();
})();
