// Offline support on every page (the service worker is crm/static/js/sw.js):
// - registers the service worker;
// - marks a page shown from the offline copy ("离线副本，更新于 …");
// - the visit form: offline, the visit is saved in IndexedDB with a client UUID instead of being
//   posted; the banner "待同步 N 条" lists what waits, and any refusal per item;
// - sync: on page load, when the connection returns and from the banner's button, each queued
//   visit is posted (JSON, the session and its CSRF token) to /leads/<id>/visits/sync with its
//   client_id: a visit the server logged already is answered as such (200), so a sync cut off
//   halfway is simply run again. Logged (200/201): removed; refused (4xx): kept, with the reason,
//   until the user discards it;
// - sign-out: every kept page and every queued visit is removed from this device first.
// Without JavaScript none of this runs and every page works online as before.
(function () {
  "use strict";
  var script = document.currentScript || document.querySelector("script[data-messages]");
  if (!script) return;
  var uid = script.getAttribute("data-user") || "";
  var csrf = script.getAttribute("data-csrf") || "";
  var messages = {};
  try { messages = JSON.parse(script.getAttribute("data-messages") || "{}"); } catch (e) { /* none */ }
  var STORE = CRM_QUEUE.STORE;
  var FIELDS = CRM_QUEUE.FIELDS;
  var VISIT_FORM = CRM_QUEUE.VISIT_FORM;
  var syncing = false;
  var runs = 0;  // finished sync runs, on <html data-sync-runs> (tests wait on it)

  function t(key, values) {
    var text = messages[key] || key;
    Object.keys(values || {}).forEach(function (name) {
      text = text.replace("{" + name + "}", values[name]);
    });
    return text;
  }

  function newId() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    // crypto.getRandomValues: a version 4 UUID where randomUUID is missing.
    var b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 15) | 64;
    b[8] = (b[8] & 63) | 128;
    var h = Array.prototype.map.call(b, function (x) { return (x + 256).toString(16).slice(1); }).join("");
    return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
  }

  // --- the queue (IndexedDB) -------------------------------------------------------------------

  function openQueue() {
    return CRM_QUEUE.open();
  }

  function withStore(mode, work) {
    return openQueue().then(function (db) {
      return new Promise(function (resolve, reject) {
        var tx = db.transaction(STORE, mode);
        var result = work(tx.objectStore(STORE));
        tx.oncomplete = function () { db.close(); resolve(result && result.result); };
        tx.onerror = function () { db.close(); reject(tx.error); };
      });
    });
  }

  function allItems() {
    return withStore("readonly", function (store) { return store.getAll(); })
      .then(function (items) { return items || []; }, function () { return []; });
  }

  function myItems() {
    return allItems().then(function (items) {
      return items.filter(function (item) { return item.uid === uid; })
        .sort(function (a, b) { return a.queued_at < b.queued_at ? -1 : 1; });
    });
  }

  function putItem(item) {
    return withStore("readwrite", function (store) { store.put(item); });
  }

  function removeItem(clientId) {
    return withStore("readwrite", function (store) { store.delete(clientId); });
  }

  // Another user's queued visits are not shown to, nor sent as, this user.
  function dropOthers() {
    return allItems().then(function (items) {
      var others = items.filter(function (item) { return item.uid !== uid; });
      if (!others.length) return;
      return withStore("readwrite", function (store) {
        others.forEach(function (item) { store.delete(item.client_id); });
      });
    });
  }

  // --- the banner --------------------------------------------------------------------------------

  var banner = null;
  var note = "";

  function bannerElement() {
    if (banner) return banner;
    var main = document.getElementById("main") || document.body;
    banner = document.createElement("section");
    banner.className = "offline-queue";
    banner.setAttribute("data-offline-queue", "");
    banner.setAttribute("aria-live", "polite");
    var copy = main.querySelector("[data-offline-copy]");
    main.insertBefore(banner, copy ? copy.nextSibling : main.firstChild);
    return banner;
  }

  function render() {
    if (!uid) return Promise.resolve();
    return myItems().then(function (items) {
      var offline = !navigator.onLine;
      if (!items.length && !offline && !note) {
        if (banner) { banner.hidden = true; banner.textContent = ""; }
        return;
      }
      var box = bannerElement();
      box.hidden = false;
      box.textContent = "";
      if (offline) {
        var off = document.createElement("p");
        off.className = "offline-now";
        off.textContent = t("offlineNow");
        box.appendChild(off);
      }
      if (note) {
        var said = document.createElement("p");
        said.className = "offline-note";
        said.setAttribute("data-offline-note", "");
        said.textContent = note;
        box.appendChild(said);
      }
      if (!items.length) return;
      var head = document.createElement("div");
      head.className = "offline-queue-head";
      var count = document.createElement("strong");
      count.setAttribute("data-pending-count", String(items.length));
      count.textContent = t("pending", { n: items.length });
      head.appendChild(count);
      var retry = document.createElement("button");
      retry.type = "button";
      retry.className = "btn btn-secondary btn-small";
      retry.setAttribute("data-sync-now", "");
      retry.textContent = syncing ? t("syncing") : t("retry");
      retry.disabled = syncing;
      retry.addEventListener("click", function () { sync(true); });
      head.appendChild(retry);
      box.appendChild(head);
      var hint = document.createElement("p");
      hint.className = "hint";
      hint.textContent = t("pendingHint");
      box.appendChild(hint);
      var list = document.createElement("ul");
      list.className = "offline-queue-list";
      items.forEach(function (item) {
        var li = document.createElement("li");
        li.setAttribute("data-queued", item.client_id);
        var what = document.createElement("span");
        var summary = (item.data.summary || "").replace(/\s+/g, " ");
        what.textContent = (item.lead_name || "#" + item.lead_id) + " · " + (item.data.visited_on || "") +
          " · " + (summary.length > 40 ? summary.slice(0, 40) + "…" : summary);
        li.appendChild(what);
        var state = document.createElement("span");
        state.className = item.status === "refused" ? "offline-refused" : "offline-waiting";
        state.textContent = item.status === "refused" ? t("refused", { why: item.error }) : t("waiting");
        li.appendChild(state);
        if (item.status === "refused") {
          var drop = document.createElement("button");
          drop.type = "button";
          drop.className = "btn btn-ghost btn-small";
          drop.setAttribute("data-discard", item.client_id);
          drop.textContent = t("discard");
          drop.addEventListener("click", function () {
            if (!window.confirm(t("discardConfirm"))) return;
            removeItem(item.client_id).then(render);
          });
          li.appendChild(drop);
        }
        list.appendChild(li);
      });
      box.appendChild(list);
    });
  }

  // --- sync --------------------------------------------------------------------------------------

  function reason(body, status) {
    var error = body && body.error;
    if (!error) return String(status);
    var parts = [];
    Object.keys(error.fields || {}).forEach(function (name) {
      (error.fields[name] || []).forEach(function (message) { parts.push(message); });
    });
    return parts.length ? parts.join("；") : error.message;
  }

  function send(item) {
    var body = { client_id: item.client_id };
    FIELDS.forEach(function (name) { body[name] = item.data[name] || ""; });
    return fetch("/leads/" + item.lead_id + "/visits/sync", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json", "X-CSRFToken": csrf },
      body: JSON.stringify(body)
    }).then(function (response) {
      return response.json().catch(function () { return null; }).then(function (json) {
        return { status: response.status, body: json };
      });
    });
  }

  // Each queued visit in turn; stops at a network failure, a server failure or a signed-out
  // session (they stay queued). ``all``: also those refused before (the retry button).
  function sync(all) {
    if (!uid || syncing || !navigator.onLine) return Promise.resolve();
    syncing = true;
    var logged = 0;
    return myItems().then(function (items) {
      var todo = items.filter(function (item) { return all || item.status !== "refused"; });
      if (!todo.length) return false;
      note = "";
      render();
      return todo.reduce(function (chain, item) {
        return chain.then(function (go) {
          if (!go) return false;
          return send(item).then(function (answer) {
            if (answer.status === 200 || answer.status === 201) {
              logged += 1;
              return removeItem(item.client_id).then(function () { return true; });
            }
            if (answer.status === 401) { note = t("signedOut"); return false; }
            if (answer.status >= 500 || answer.status === 429) { note = t("serverError"); return false; }
            item.status = "refused";
            item.error = reason(answer.body, answer.status);
            return putItem(item).then(function () { return true; });
          }, function () { return false; });  // the network: try again later
        });
      }, Promise.resolve(true)).then(function () { return true; });
    }).then(function (ran) {
      if (logged) note = t("synced", { n: logged });
      return ran;
    }).catch(function () { /* IndexedDB unavailable: nothing queued */ }).then(function (ran) {
      syncing = false;
      if (ran) document.documentElement.setAttribute("data-sync-runs", String(++runs));
      return render();
    });
  }

  // --- the visit form ------------------------------------------------------------------------------

  // The lead's name as the page shows it: the visit form's breadcrumb, else the lead page's title.
  function leadName() {
    var link = document.querySelector(".breadcrumb a");
    if (link) return link.textContent.replace(/^\s*‹\s*/, "").trim();
    var title = document.querySelector("main h1");
    return title ? title.textContent.trim() : "";
  }

  function enhanceVisitForm(form) {
    var match = VISIT_FORM.exec(new URL(form.action, location.href).pathname);
    if (!match || (form.method || "").toLowerCase() !== "post") return;
    var field = form.querySelector("input[name='client_id']");
    if (!field) {
      field = document.createElement("input");
      field.type = "hidden";
      field.name = "client_id";
      form.appendChild(field);
    }
    // A fresh id per form shown (the page may be an offline copy whose id was used).
    field.value = newId();
    form.addEventListener("submit", function (event) {
      if (navigator.onLine) return;  // posted as usual (the service worker queues it if it fails)
      event.preventDefault();
      var data = {};
      FIELDS.forEach(function (name) {
        var input = form.elements[name];
        if (input) data[name] = String(input.value === undefined ? "" : input.value);
      });
      var checked = form.querySelector("input[name='kind']:checked");
      if (checked) data.kind = checked.value;
      var item = {
        client_id: field.value, uid: uid, lead_id: match[1], lead_name: leadName(), data: data,
        queued_at: new Date().toISOString(), status: "pending", error: ""
      };
      field.value = newId();
      putItem(item).then(myItems).then(function (items) {
        try { sessionStorage.setItem("crm-queued-note", t("queued", { n: items.length })); } catch (e) { /* private mode */ }
        location.href = "/leads/" + match[1];
      });
    });
  }

  // --- the offline copy, sign-out ------------------------------------------------------------------

  function markOfflineCopy() {
    var marker = document.querySelector("[data-offline-copy]");
    if (!marker) return;
    var when = new Date(marker.getAttribute("data-offline-copy"));
    var text = isNaN(when.getTime()) ? "" : when.toLocaleString("zh-CN", { hour12: false });
    marker.textContent = t("offlineCopy", { when: text });
    document.documentElement.classList.add("is-offline-copy");
    var flashes = document.querySelector(".flashes");  // said when the page was kept, not now
    if (flashes) flashes.remove();
  }

  function clearDevice() {
    var pages = window.caches ? caches.keys().then(function (keys) {
      return Promise.all(keys.filter(function (key) {
        return key.indexOf("crm-pages-") === 0 || key === "crm-meta";
      }).map(function (key) { return caches.delete(key); }));
    }) : Promise.resolve();
    try { sessionStorage.clear(); } catch (e) { /* private mode */ }
    var queue = withStore("readwrite", function (store) { store.clear(); }).catch(function () {});
    return Promise.all([pages, queue]).catch(function () {});
  }

  function guardSignOut() {
    document.querySelectorAll("form[action$='/logout']").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        myItems().then(function (items) {
          if (items.length && !window.confirm(t("logoutPending", { n: items.length }))) return;
          return clearDevice().then(function () { form.submit(); });
        });
      });
    });
  }

  // The user's own leads, kept by the service worker for reading offline: asked once per tab
  // (the worker skips a page kept within the hour).
  function keepOwnLeads() {
    // Only from a page the worker answered: it knows then who is signed in.
    if (!uid || !navigator.onLine || !("serviceWorker" in navigator) ||
        !navigator.serviceWorker.controller) return;
    var key = "crm-own-leads-" + uid;
    try {
      if (sessionStorage.getItem(key)) return;
    } catch (e) { return; }
    navigator.serviceWorker.ready.then(function (registration) {
      return fetch("/offline/my-leads", { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (body) {
          if (!body || !registration.active) return;
          registration.active.postMessage({ keep: body.paths, uid: uid });
          try { sessionStorage.setItem(key, "1"); } catch (e) { /* private mode */ }
        });
    }).catch(function () { /* offline: next time */ });
  }

  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch(function () { /* http */ });
  }
  markOfflineCopy();
  if (!uid) return;
  try {
    note = sessionStorage.getItem("crm-queued-note") || "";
    sessionStorage.removeItem("crm-queued-note");
  } catch (e) { /* private mode */ }
  document.querySelectorAll("form[method='post'], form[method='POST']").forEach(enhanceVisitForm);
  guardSignOut();
  keepOwnLeads();
  window.addEventListener("online", function () { sync(false); });
  window.addEventListener("offline", render);
  dropOthers().catch(function () {}).then(render).then(function () { return sync(false); });
})();
