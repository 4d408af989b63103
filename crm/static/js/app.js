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
