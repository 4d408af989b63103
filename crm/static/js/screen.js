// The big screen reloads itself every few minutes (data-refresh-seconds on <body>).
// It first asks the server: a screen reloaded while the network is down would be left on the
// browser's error page for good, so on a network error it keeps the page and tries again soon.
// Any answer from the server (even 404 for a revoked link) reloads. Without JavaScript, a
// <noscript> meta refresh does the reloading.
(function () {
  "use strict";
  var seconds = parseInt(document.body.getAttribute("data-refresh-seconds"), 10) || 300;
  var retrySeconds = 30;

  function later(delay) {
    window.setTimeout(reloadWhenReachable, delay * 1000);
  }

  function reloadWhenReachable() {
    if (!window.fetch) {
      window.location.reload();
      return;
    }
    window.fetch(window.location.href, { method: "HEAD", cache: "no-store", credentials: "same-origin" })
      .then(function (response) {
        if (response.status >= 500) {
          later(retrySeconds);
        } else {
          window.location.reload();
        }
      })
      .catch(function () { later(retrySeconds); });
  }

  later(seconds);
})();
