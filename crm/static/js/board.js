// The board: drag a card (mouse or touch) to another column; a dialog asks for the
// effective date and, for a move back or to lost, the reason. The dialog is a plain form
// posting to the lead's move page, so the server applies the same rules as everywhere.
(function () {
  "use strict";
  var board = document.querySelector("[data-board]");
  var dialog = document.getElementById("move-dialog");
  if (!board || !dialog) return;
  var form = dialog.querySelector("[data-move-form]");
  var order = ["contact", "negotiation", "signed", "started", "producing"];
  var labels = {};
  board.querySelectorAll(".board-col").forEach(function (col) {
    labels[col.dataset.stage] = col.querySelector("h2").textContent;
  });

  function openDialog(card, toStage) {
    if (!card || !toStage || card.dataset.stage === toStage) return;
    var from = card.dataset.stage;
    var back = from === "lost" || order.indexOf(toStage) < order.indexOf(from);
    form.action = card.dataset.moveUrl;
    form.elements.to.value = toStage;
    form.elements.version.value = card.dataset.version;
    dialog.querySelector("[data-move-summary]").textContent =
      card.dataset.name + "：" + labels[from] + " → " + labels[toStage];
    dialog.querySelector("[data-reason-row]").hidden = !back;
    form.elements.reason.required = back;
    dialog.querySelector("[data-lost-row]").hidden = toStage !== "lost";
    form.elements.lost_reason.required = toStage === "lost";
    if (typeof dialog.showModal === "function") dialog.showModal();
    else dialog.setAttribute("open", "");
  }

  dialog.querySelector("[data-move-cancel]").addEventListener("click", function () {
    if (typeof dialog.close === "function") dialog.close();
    else dialog.removeAttribute("open");
  });

  // Mouse: HTML5 drag and drop.
  var dragged = null;
  board.addEventListener("dragstart", function (e) {
    dragged = e.target.closest(".board-card");
    if (!dragged) return;
    e.dataTransfer.effectAllowed = "move";
    e.dataTransfer.setData("text/plain", dragged.dataset.leadId);
    dragged.classList.add("dragging");
  });
  board.addEventListener("dragend", function () {
    if (dragged) dragged.classList.remove("dragging");
    board.querySelectorAll(".drop-target").forEach(function (c) { c.classList.remove("drop-target"); });
  });
  board.addEventListener("dragover", function (e) {
    var col = e.target.closest(".board-col");
    if (!col || !dragged) return;
    e.preventDefault();
    board.querySelectorAll(".drop-target").forEach(function (c) { c.classList.remove("drop-target"); });
    col.classList.add("drop-target");
  });
  board.addEventListener("drop", function (e) {
    var col = e.target.closest(".board-col");
    if (!col || !dragged) return;
    e.preventDefault();
    col.classList.remove("drop-target");
    openDialog(dragged, col.dataset.stage);
    dragged = null;
  });

  // Touch: press a card, move the finger to a column, lift.
  var touched = null;
  board.addEventListener("touchstart", function (e) {
    var card = e.target.closest(".board-card[draggable=true]");
    if (!card || e.target.closest("a")) return;
    touched = card;
  }, { passive: true });
  board.addEventListener("touchmove", function (e) {
    if (!touched) return;
    var t = e.touches[0];
    var el = document.elementFromPoint(t.clientX, t.clientY);
    board.querySelectorAll(".drop-target").forEach(function (c) { c.classList.remove("drop-target"); });
    var col = el && el.closest(".board-col");
    if (col) col.classList.add("drop-target");
  }, { passive: true });
  board.addEventListener("touchend", function (e) {
    if (!touched) return;
    var t = e.changedTouches[0];
    var el = document.elementFromPoint(t.clientX, t.clientY);
    var col = el && el.closest(".board-col");
    board.querySelectorAll(".drop-target").forEach(function (c) { c.classList.remove("drop-target"); });
    if (col && col.dataset.stage !== touched.dataset.stage) openDialog(touched, col.dataset.stage);
    touched = null;
  });
})();
