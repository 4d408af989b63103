// The big screen: turns the pages of the red projects, and reloads itself every few minutes.
//
// Red projects: the page lists every one (without JavaScript all are shown); here they are shown
// a group at a time (data-page-size on the list), the next group every data-rotate-seconds, with
// "第 1/3 页" beside the heading.
//
// Reloading (data-refresh-seconds on <body>): it first asks the server: a screen reloaded while
// the network is down would be left on the browser's error page for good, so on a network error
// it keeps the page and tries again soon. Any answer from the server (even 410 for a revoked
// link) reloads. Without JavaScript, a <noscript> meta refresh does the reloading.
(function () {
  "use strict";
  var seconds = parseInt(document.body.getAttribute("data-refresh-seconds"), 10) || 300;
  var retrySeconds = 30;

  function pageRedProjects() {
    var list = document.getElementById("red-list");
    var pager = document.getElementById("red-pager");
    if (!list || !pager) {
      return;
    }
    var items = Array.prototype.slice.call(list.children);
    var size = parseInt(list.getAttribute("data-page-size"), 10) || 6;
    var every = parseInt(list.getAttribute("data-rotate-seconds"), 10) || 12;
    var pages = Math.ceil(items.length / size);
    if (pages < 2) {
      return;
    }
    var current = 0;
    var template = pager.getAttribute("data-template") || "第 {page}/{pages} 页";

    function show(page) {
      items.forEach(function (item, i) {
        item.hidden = Math.floor(i / size) !== page;
      });
      pager.textContent = template.replace("{page}", page + 1).replace("{pages}", pages);
    }

    document.body.classList.add("red-paged");
    pager.hidden = false;
    show(current);
    window.setInterval(function () {
      current = (current + 1) % pages;
      show(current);
    }, every * 1000);
  }

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

  pageRedProjects();
  later(seconds);
})();
