// The idle time-out warning: two minutes before the server ends an idle session, a dialog says so
// and offers to stay signed in (a POST to the keep-alive endpoint). Loaded from a file, not inline,
// so the Content-Security-Policy needs no 'unsafe-inline'. Without JavaScript nothing changes: the
// server's time-out is the real one, this only tells the user in time.
(function () {
  "use strict";
  var box = document.getElementById("session-warning");
  if (!box) {
    return;
  }
  var stay = document.getElementById("session-warning-stay");
  var text = document.getElementById("session-warning-text");
  var ended = document.getElementById("session-warning-ended");
  var warnBefore = parseInt(box.dataset.warnBefore, 10) * 1000;
  var idle = parseInt(box.dataset.idleSeconds, 10) * 1000;
  var fullIdle = parseInt(box.dataset.idleFullSeconds, 10) * 1000;
  var warnTimer = null;
  var endTimer = null;
  var returnFocus = null;

  function hide() {
    if (!box.hidden && returnFocus && document.body.contains(returnFocus)) {
      returnFocus.focus();
    }
    box.hidden = true;
  }

  function show() {
    returnFocus = document.activeElement;
    box.hidden = false;
    stay.focus();
  }

  function signedOut() {
    text.hidden = true;
    ended.hidden = false;
    stay.hidden = true;
    box.hidden = false;
    box.focus();
  }

  function schedule(remaining) {
    window.clearTimeout(warnTimer);
    window.clearTimeout(endTimer);
    warnTimer = window.setTimeout(show, Math.max(0, remaining - warnBefore));
    endTimer = window.setTimeout(signedOut, remaining);
  }

  function keepAlive() {
    stay.disabled = true;
    fetch(box.dataset.keepAliveUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRFToken": box.dataset.csrfToken },
    })
      .then(function (response) {
        if (response.status === 204) {
          hide();
          schedule(fullIdle);
        } else {
          signedOut();
        }
      })
      .catch(signedOut)
      .finally(function () {
        stay.disabled = false;
      });
  }

  // This page tells the time left; the keep-alive and every htmx request the server saw restart it.
  stay.addEventListener("click", keepAlive);
  box.tabIndex = -1;
  box.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && !stay.hidden) {
      keepAlive();
    }
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    if (event.detail && event.detail.successful) {
      hide();
      schedule(fullIdle);
    }
  });
  schedule(idle);
})();
