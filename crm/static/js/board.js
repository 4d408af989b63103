// The board: move a card to another column by dragging it (mouse or touch) or from the
// keyboard (the card's "移动到…" menu: Tab to it, Enter, pick a stage, Enter). Only the stages
// the server listed for the card (data-targets: the moves this user may make) are offered or
// accept a drop. A dialog asks for the effective date and, for a move back, a reopening or a
// loss, the reason. The dialog is a plain form posting to the lead's move page, so the server
// applies the same rules as everywhere; without JavaScript the menu's links open that page.
// The column picker scrolls the board to a column (a plain anchor without JavaScript).
(function () {
  "use strict";
  var board = document.querySelector("[data-board]");
  var dialog = document.getElementById("move-dialog");
  if (!board) return;
  var order = ["contact", "negotiation", "signed", "started", "producing"];
  var labels = {};
  board.querySelectorAll(".board-col").forEach(function (col) {
    labels[col.dataset.stage] = col.querySelector("h2").textContent;
  });

  // --- the column picker -------------------------------------------------------------------
  var picker = document.querySelector("[data-board-picker]");
  if (picker) {
    picker.addEventListener("click", function (e) {
      var link = e.target.closest("a[href^='#col-']");
      if (!link) return;
      var col = document.getElementById(link.getAttribute("href").slice(1));
      if (!col) return;
      e.preventDefault();
      board.scrollTo({ left: col.offsetLeft - board.offsetLeft, behavior: "smooth" });
      picker.querySelectorAll("[aria-current]").forEach(function (a) { a.removeAttribute("aria-current"); });
      link.setAttribute("aria-current", "true");
      if (history.replaceState) history.replaceState(null, "", link.getAttribute("href"));
    });
  }
  // A cue while columns are hidden to the right (or left): the class shows edge shadows.
  function cue() {
    var more = board.scrollWidth - board.clientWidth;
    board.classList.toggle("board-overflows", more > 2);
    board.classList.toggle("board-at-end", board.scrollLeft >= more - 2);
    board.classList.toggle("board-at-start", board.scrollLeft <= 2);
  }
  board.addEventListener("scroll", cue, { passive: true });
  window.addEventListener("resize", cue);
  cue();

  if (!dialog) return;
  var form = dialog.querySelector("[data-move-form]");
  var opener = null;

  function targetsOf(card) {
    return (card.dataset.targets || "").split(" ").filter(Boolean);
  }

  function closeDialog() {
    if (typeof dialog.close === "function" && dialog.open) dialog.close();
    else dialog.removeAttribute("open");
  }

  function openDialog(card, toStage, from_) {
    if (!card || !toStage || targetsOf(card).indexOf(toStage) < 0) return false;
    var from = card.dataset.stage;
    var needsReason = from === "lost" || (toStage !== "lost" && order.indexOf(toStage) < order.indexOf(from));
    opener = from_ || card.querySelector("summary") || card.querySelector("a");
    form.action = card.dataset.moveUrl;
    form.elements.to.value = toStage;
    form.elements.version.value = card.dataset.version;
    dialog.querySelector("[data-move-summary]").textContent =
      card.dataset.name + "：" + labels[from] + " → " + labels[toStage];
    dialog.querySelector("[data-reason-row]").hidden = !needsReason;
    form.elements.reason.required = needsReason;
    dialog.querySelector("[data-lost-row]").hidden = toStage !== "lost";
    form.elements.lost_reason.required = toStage === "lost";
    if (typeof dialog.showModal === "function") dialog.showModal();
    else dialog.setAttribute("open", "");
    var first = needsReason ? form.elements.reason : (toStage === "lost" ? form.elements.lost_reason : form.elements.on);
    if (first) first.focus();
    return true;
  }

  dialog.querySelector("[data-move-cancel]").addEventListener("click", closeDialog);
  dialog.addEventListener("close", function () {
    if (opener && document.contains(opener)) opener.focus();
  });

  // Keyboard (and mouse) through the card's menu: its links open the dialog instead of the page.
  board.addEventListener("click", function (e) {
    var link = e.target.closest("a[data-move-to]");
    if (!link) return;
    var card = link.closest(".board-card");
    var menu = link.closest("details");
    if (openDialog(card, link.dataset.moveTo, menu && menu.querySelector("summary"))) {
      e.preventDefault();
      if (menu) menu.open = false;
    }
  });
  // Escape closes an open card menu and returns to its button.
  board.addEventListener("keydown", function (e) {
    if (e.key !== "Escape") return;
    var menu = e.target.closest("details[open]");
    if (!menu) return;
    menu.open = false;
    menu.querySelector("summary").focus();
  });

  function markTargets(card) {
    var allowed = targetsOf(card);
    board.querySelectorAll(".board-col").forEach(function (col) {
      col.classList.toggle("drop-allowed", allowed.indexOf(col.dataset.stage) >= 0);
    });
  }
  function clearMarks() {
    board.querySelectorAll(".drop-target, .drop-allowed").forEach(function (c) {
      c.classList.remove("drop-target", "drop-allowed");
    });
  }

  // Mouse: HTML5 drag and drop, onto the allowed columns only.
  var dragged = null;
  board.addEventListener("dragstart", function (e) {
    dragged = e.target.closest && e.target.closest(".board-card[draggable=true]");
    if (!dragged) return;
    e.dataTransfer.effectAllowed = "move";
    e.dataTransfer.setData("text/plain", dragged.dataset.leadId);
    dragged.classList.add("dragging");
    markTargets(dragged);
  });
  board.addEventListener("dragend", function () {
    if (dragged) dragged.classList.remove("dragging");
    clearMarks();
  });
  board.addEventListener("dragover", function (e) {
    var col = e.target.closest(".board-col");
    if (!col || !dragged || targetsOf(dragged).indexOf(col.dataset.stage) < 0) return;
    e.preventDefault();
    board.querySelectorAll(".drop-target").forEach(function (c) { c.classList.remove("drop-target"); });
    col.classList.add("drop-target");
  });
  board.addEventListener("drop", function (e) {
    var col = e.target.closest(".board-col");
    if (!col || !dragged) return;
    e.preventDefault();
    clearMarks();
    openDialog(dragged, col.dataset.stage);
    dragged = null;
  });

  // Touch: press a card, move the finger to a column, lift.
  var touched = null;
  board.addEventListener("touchstart", function (e) {
    var card = e.target.closest(".board-card[draggable=true]");
    if (!card || e.target.closest("a, summary, details")) return;
    touched = card;
  }, { passive: true });
  board.addEventListener("touchmove", function (e) {
    if (!touched) return;
    var t = e.touches[0];
    var el = document.elementFromPoint(t.clientX, t.clientY);
    board.querySelectorAll(".drop-target").forEach(function (c) { c.classList.remove("drop-target"); });
    var col = el && el.closest(".board-col");
    if (col && targetsOf(touched).indexOf(col.dataset.stage) >= 0) col.classList.add("drop-target");
  }, { passive: true });
  board.addEventListener("touchend", function (e) {
    if (!touched) return;
    var t = e.changedTouches[0];
    var el = document.elementFromPoint(t.clientX, t.clientY);
    var col = el && el.closest(".board-col");
    clearMarks();
    if (col && col.dataset.stage !== touched.dataset.stage) openDialog(touched, col.dataset.stage);
    touched = null;
  });
})();
