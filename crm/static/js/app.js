/* 招商 CRM: progressive enhancements (optional; every page works without JavaScript). */

// Long submissions (an import): show that the work is under way and prevent a double submit.
document.addEventListener("submit", function (event) {
  var form = event.target;
  if (!form.dataset || !form.dataset.busy) return;
  var button = form.querySelector("button[type=submit]");
  if (button) button.disabled = true;
  var bar = form.querySelector(".busy-progress");
  if (bar) bar.hidden = false;
  var text = form.querySelector(".busy-text");
  if (text) text.textContent = form.dataset.busy;
});

// The lead form's investor: suggest companies already on file as the name is typed (the
// form works without it: the name typed is matched, or a company made, when saved).
(function () {
  var input = document.querySelector("input[data-suggest]");
  if (!input || !window.fetch) return;
  var list = document.getElementById(input.getAttribute("list"));
  var found = {};
  var timer = null;
  function fill(items) {
    found = {};
    list.textContent = "";
    items.forEach(function (item) {
      found[item.name] = item;
      var option = document.createElement("option");
      option.value = item.name;
      if (item.credit_code) option.label = item.name + " · " + item.credit_code;
      list.appendChild(option);
    });
  }
  input.addEventListener("input", function () {
    clearTimeout(timer);
    var q = input.value.trim();
    var item = found[input.value];
    if (item) {  // picked: complete the code and home city when empty
      var code = input.form.querySelector("[name=credit_code]");
      var origin = input.form.querySelector("[name=origin]");
      if (code && !code.value && item.credit_code) code.value = item.credit_code;
      if (origin && !origin.value && item.origin) origin.value = item.origin;
      return;
    }
    if (q.length < 2) return;
    timer = setTimeout(function () {
      fetch(input.dataset.suggest + "?q=" + encodeURIComponent(q), {credentials: "same-origin"})
        .then(function (r) { return r.ok ? r.json() : {items: []}; })
        .then(function (data) { fill(data.items || []); })
        .catch(function () {});
    }, 200);
  });
})();

/* ── fixes: form helpers (unit → officers, error summary focus, copy, confirm) ────────── */

// The new-lead form: the officer select lists the chosen unit's people (without JavaScript
// the server re-shows the form with the chosen unit's people and says what to fix).
(function () {
  var unit = document.querySelector("select[data-unit-officers]");
  if (!unit) return;
  var officers = JSON.parse(unit.dataset.unitOfficers);
  var select = document.getElementById(unit.dataset.officerSelect);
  if (!select) return;
  unit.addEventListener("change", function () {
    var keep = select.value;
    var people = officers[unit.value] || [];
    while (select.options.length > 1) select.remove(1);  // the first is "—"
    people.forEach(function (person) {
      var option = new Option(person[1], String(person[0]));
      if (String(person[0]) === keep) option.selected = true;
      select.add(option);
    });
    if (select.value !== keep) select.value = "0";
  });
})();

// A destructive button (revoke a token, stop a screen link): without JavaScript the server
// answers with a confirmation page; with it, confirm() asks here and the form says so.
document.addEventListener("submit", function (event) {
  var form = event.target;
  if (!form.dataset || !form.dataset.confirm) return;
  if (!window.confirm(form.dataset.confirm)) {
    event.preventDefault();
    return;
  }
  var confirmed = document.createElement("input");
  confirmed.type = "hidden";
  confirmed.name = "confirmed";
  confirmed.value = "1";
  form.appendChild(confirmed);
});

// After a server-side validation error: focus the error summary (the autofocus attribute does
// it too where supported), and let each of its links focus its field.
(function () {
  var summary = document.querySelector("[data-error-summary]");
  if (!summary) return;
  if (document.activeElement !== summary) summary.focus();
  summary.addEventListener("click", function (event) {
    var link = event.target.closest("a[data-field]");
    var field = link && document.getElementById(link.dataset.field);
    if (!field) return;
    event.preventDefault();
    field.focus();
    if (field.scrollIntoView) field.scrollIntoView({block: "center"});
  });
})();

// A secret shown once (a new API token, a screen link, a new password): a 复制 button. Without
// JavaScript the button stays hidden and the text stays selectable in its field.
(function () {
  var buttons = document.querySelectorAll("button[data-copy]");
  Array.prototype.forEach.call(buttons, function (button) {
    var field = document.getElementById(button.dataset.copy);
    if (!field) return;
    var status = button.nextElementSibling;
    button.hidden = false;
    button.addEventListener("click", function () {
      function done(ok) {
        if (status) status.textContent = ok ? button.dataset.copied : button.dataset.copyFailed;
      }
      field.select();
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(field.value).then(function () { done(true); },
                                                        function () { done(false); });
      } else {
        var ok = false;
        try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
        done(ok);
      }
    });
  });
})();

// An import job's page: poll its JSON and move the bar (without JavaScript the page refreshes).
(function () {
  var box = document.querySelector(".import-job[data-progress]");
  if (!box || box.dataset.state !== "running") return;
  var meta = document.querySelector('meta[http-equiv="refresh"]');
  if (meta) meta.parentNode.removeChild(meta);
  var bar = box.querySelector(".import-progress");
  var status = box.querySelector(".import-status");
  function poll() {
    fetch(box.dataset.progress, {credentials: "same-origin"})
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (job) {
        if (!job) { window.location.reload(); return; }
        bar.max = job.total || 1;
        bar.value = job.done;
        if (job.state === "running") {
          status.textContent = box.dataset.running.replace("{done}", job.done)
            .replace("{total}", job.total);
          setTimeout(poll, 1000);
        } else {
          window.location.reload();  // the page says what came of it
        }
      })
      .catch(function () { setTimeout(poll, 3000); });
  }
  setTimeout(poll, 500);
})();
