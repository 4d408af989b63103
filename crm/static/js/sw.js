// The service worker, served at /sw.js (scope: the whole app) by crm/offline/views.py, which
// writes VERSION and SHELL above this line.
//
// - The app shell (CSS, JS, icons, the offline page) is cached when the worker installs.
// - Pages: always from the network first. A signed-in user's lead pages, visit forms and lists
//   are kept per user ("crm-pages-u<id>"), from the answers' X-CRM-User header; offline, the
//   current user's copy is shown read-only, marked with when it was kept (offline.js says so).
// - Whose pages: the last answer's X-CRM-User. A change of user drops the other user's pages, a
//   signed-out answer (0) drops every page: nothing of user A is served to user B.
// - A visit form posted while the network fails is queued in IndexedDB (the same store as
//   offline.js's), with the form's client_id: if the server did log it, the resend is a repeat.
"use strict";

importScripts("/static/js/offline-queue.js");

var SHELL_CACHE = "crm-shell-" + VERSION;
var PAGES = "crm-pages-u";
var META = "crm-meta";
var USER_KEY = "/__crm/user";
var STORE = CRM_QUEUE.STORE;
var FIELDS = CRM_QUEUE.FIELDS;
//: The pages kept for offline reading: home, my work, the lead list, a lead, its visit form.
var KEPT = /^\/(|my|leads\/|leads\/\d+|leads\/\d+\/visits)$/;
var VISIT_FORM = CRM_QUEUE.VISIT_FORM;
var LEAD = /^\/leads\/\d+$/;

self.addEventListener("install", function (event) {
  event.waitUntil(
    caches.open(SHELL_CACHE)
      .then(function (cache) {
        return cache.addAll(SHELL.map(function (url) {
          return new Request(url, { credentials: "omit", cache: "no-cache" });
        }));
      })
      .then(function () { return self.skipWaiting(); })
  );
});

self.addEventListener("activate", function (event) {
  event.waitUntil(
    caches.keys().then(function (keys) {
      return Promise.all(keys.filter(function (key) {
        return key.indexOf("crm-shell-") === 0 && key !== SHELL_CACHE;
      }).map(function (key) { return caches.delete(key); }));
    }).then(function () { return self.clients.claim(); })
  );
});

function currentUser() {
  return caches.open(META).then(function (cache) {
    return cache.match(USER_KEY);
  }).then(function (hit) { return hit ? hit.text() : "0"; });
}

// Whose pages are kept: on a change, drop every page of anyone else.
function noteUser(uid) {
  return caches.keys().then(function (keys) {
    return Promise.all(keys.filter(function (key) {
      return key.indexOf(PAGES) === 0 && key !== PAGES + uid;
    }).map(function (key) { return caches.delete(key); }));
  }).then(function () {
    return caches.open(META);
  }).then(function (cache) {
    return cache.put(USER_KEY, new Response(uid));
  });
}

function keep(uid, path, response) {
  return response.arrayBuffer().then(function (body) {
    var headers = new Headers(response.headers);
    headers.set("X-CRM-Cached-At", new Date().toISOString());
    return caches.open(PAGES + uid).then(function (cache) {
      return cache.put(path, new Response(body, { status: 200, headers: headers }));
    });
  });
}

// With a lead's page, its visit form (if the user may log visits there): a visit can then be
// logged offline from the lead's page.
function keepVisitForm(uid, path) {
  return fetch(path, { credentials: "same-origin", redirect: "manual" }).then(function (response) {
    if (response.status === 200 && response.headers.get("X-CRM-User") === uid) {
      return keep(uid, path, response);
    }
  }).catch(function () { /* offline again: the lead's page is kept anyway */ });
}

// A kept page, marked as an offline copy (offline.js writes the words and the age).
function offlineCopy(hit) {
  var when = hit.headers.get("X-CRM-Cached-At") || "";
  return hit.text().then(function (html) {
    var marker = '<div class="offline-copy" data-offline-copy="' + when + '" role="status"></div>';
    html = html.replace(/<main\b[^>]*>/, function (tag) { return tag + marker; });
    var headers = new Headers(hit.headers);
    headers.set("Content-Type", "text/html; charset=utf-8");
    return new Response(html, { status: 200, headers: headers });
  });
}

function fallback() {
  return caches.open(SHELL_CACHE).then(function (cache) {
    return cache.match("/offline");
  }).then(function (hit) { return hit || Response.error(); });
}

function navigate(event, url) {
  return fetch(event.request).then(function (response) {
    var uid = response.headers.get("X-CRM-User");
    if (uid === null) return response;
    var copy = response.status === 200 ? response.clone() : null;
    // Whose it is, noted before the page runs (its scripts may ask the worker for more); the
    // copy kept after the page is answered: showing it does not wait for the cache.
    return noteUser(uid).catch(function () {}).then(function () {
      if (uid !== "0" && copy && !url.search && KEPT.test(url.pathname)) {
        event.waitUntil(keep(uid, url.pathname, copy).then(function () {
          if (LEAD.test(url.pathname)) return keepVisitForm(uid, url.pathname + "/visits");
        }).catch(function () { /* storage full or gone: the page was shown anyway */ }));
      }
      return response;
    });
  }, function () {
    return currentUser().then(function (uid) {
      if (uid === "0") return fallback();
      return caches.open(PAGES + uid).then(function (cache) {
        return cache.match(url.pathname);
      }).then(function (hit) { return hit ? offlineCopy(hit) : fallback(); });
    });
  });
}

function openQueue() {
  return CRM_QUEUE.open();
}

function enqueue(item) {
  return openQueue().then(function (db) {
    return new Promise(function (resolve, reject) {
      var tx = db.transaction(STORE, "readwrite");
      tx.objectStore(STORE).put(item);
      tx.oncomplete = function () { db.close(); resolve(); };
      tx.onerror = function () { db.close(); reject(tx.error); };
    });
  });
}

// The visit form posted while the network failed: queue it, then show the lead's page.
function postVisit(request, url) {
  var copy = request.clone();
  return fetch(request).catch(function () {
    var leadId = VISIT_FORM.exec(url.pathname)[1];
    return Promise.all([currentUser(), copy.formData()]).then(function (got) {
      var uid = got[0];
      var form = got[1];
      if (uid === "0") return Response.error();
      var data = {};
      FIELDS.forEach(function (name) { data[name] = String(form.get(name) || ""); });
      return enqueue({
        client_id: String(form.get("client_id") || "") || self.crypto.randomUUID(),
        uid: uid, lead_id: leadId, lead_name: "", data: data,
        queued_at: new Date().toISOString(), status: "pending", error: ""
      }).then(function () {
        return Response.redirect(new URL("/leads/" + leadId, self.location.origin).href, 303);
      });
    });
  });
}

// Whether the user's copy of ``path`` was kept within the hour.
function fresh(uid, path) {
  return caches.open(PAGES + uid).then(function (cache) {
    return cache.match(path);
  }).then(function (hit) {
    var when = hit && Date.parse(hit.headers.get("X-CRM-Cached-At") || "");
    return Boolean(when) && Date.now() - when < 3600 * 1000;
  });
}

// offline.js sends the user's own leads ({keep: [paths], uid}): each lead's page and visit form
// is kept, one after another, as the user's (the answer must say it is theirs).
self.addEventListener("message", function (event) {
  var data = event.data || {};
  if (!Array.isArray(data.keep) || !data.uid) return;
  var uid = String(data.uid);
  event.waitUntil(currentUser().then(function (current) {
    if (current !== uid) return;
    return data.keep.filter(function (path) { return LEAD.test(path); })
      .reduce(function (chain, path) {
        return chain.then(function () {
          return fresh(uid, path);
        }).then(function (isFresh) {
          if (isFresh) return;
          return fetch(path, { credentials: "same-origin", redirect: "manual" }).then(function (response) {
            if (response.status !== 200 || response.headers.get("X-CRM-User") !== uid) return;
            return keep(uid, path, response).then(function () {
              return keepVisitForm(uid, path + "/visits");
            });
          });
        });
      }, Promise.resolve());
  }).catch(function () { /* offline again: what was kept stays */ }));
});

self.addEventListener("fetch", function (event) {
  var request = event.request;
  var url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (request.method === "POST" && request.mode === "navigate" && VISIT_FORM.test(url.pathname)) {
    event.respondWith(postVisit(request, url));
    return;
  }
  if (request.method !== "GET") return;
  if (request.mode === "navigate") {
    event.respondWith(navigate(event, url));
  } else if (url.pathname.indexOf("/static/") === 0) {
    event.respondWith(fetch(request).catch(function () {
      return caches.match(url.pathname, { ignoreSearch: true }).then(function (hit) {
        return hit || Response.error();
      });
    }));
  }
});
