// The offline visit queue's store (IndexedDB), one definition for the page (offline.js, loaded
// before it) and the service worker (sw.js, by importScripts): its name, the visit form's fields
// it keeps, and how to open it.
var CRM_QUEUE = {
  DB_NAME: "crm-offline",
  STORE: "visits",
  FIELDS: ["visited_on", "kind", "summary", "next_step", "next_follow_up", "participants"],
  //: A lead's visit form: /leads/<id>/visits.
  VISIT_FORM: /^\/leads\/(\d+)\/visits$/,
  open: function () {
    return new Promise(function (resolve, reject) {
      if (!self.indexedDB) { reject(new Error("no IndexedDB")); return; }
      var request = indexedDB.open(CRM_QUEUE.DB_NAME, 1);
      request.onupgradeneeded = function () {
        var store = request.result.createObjectStore(CRM_QUEUE.STORE, { keyPath: "client_id" });
        store.createIndex("uid", "uid");
      };
      request.onsuccess = function () { resolve(request.result); };
      request.onerror = function () { reject(request.error); };
    });
  }
};
