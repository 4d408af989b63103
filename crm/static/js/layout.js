/* 招商 CRM: the page frame's enhancements (every page works without them).
   - A table scroller (_macros/layout.html) shows "左右滑动查看" and its edge shadows only while
     its table does not fit; without JavaScript the hint shows on every phone.
   - Sections marked data-fold-phone (the bulletin) start collapsed on a phone.
   - An open menu (the account menu, the tab bar's 更多) closes on Escape or a tap elsewhere. */
(function () {
  var root = document.documentElement;
  root.classList.add("js");

  function measure(wrap) {
    var box = wrap.querySelector(".scroller");
    if (!box) return;
    var more = box.scrollWidth - box.clientWidth;
    wrap.classList.toggle("overflows", more > 1);
    wrap.classList.toggle("at-start", box.scrollLeft <= 1);
    wrap.classList.toggle("at-end", box.scrollLeft >= more - 1);
  }

  function measureAll() {
    document.querySelectorAll(".scroller-wrap").forEach(measure);
  }

  document.querySelectorAll(".scroller-wrap").forEach(function (wrap) {
    var box = wrap.querySelector(".scroller");
    if (box) box.addEventListener("scroll", function () { measure(wrap); }, {passive: true});
  });
  measureAll();
  window.addEventListener("resize", measureAll);
  window.addEventListener("load", measureAll);

  if (window.matchMedia && window.matchMedia("(max-width: 719px)").matches) {
    document.querySelectorAll("details[data-fold-phone]").forEach(function (d) {
      d.open = false;
    });
  }

  // A link to something inside a collapsed section (the bulletin's 红色项目 card) opens it.
  function openTarget() {
    if (!location.hash) return;
    var target = document.getElementById(decodeURIComponent(location.hash.slice(1)));
    for (var el = target; el; el = el.parentElement) {
      if (el.tagName === "DETAILS") el.open = true;
    }
  }
  window.addEventListener("hashchange", openTarget);
  openTarget();  // after the folding above: a link to something inside keeps it open

  var menus = document.querySelectorAll("details.menu, details.tab-more");
  document.addEventListener("click", function (event) {
    menus.forEach(function (d) {
      if (d.open && !d.contains(event.target)) d.open = false;
    });
  });
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    menus.forEach(function (d) {
      if (d.open) {
        d.open = false;
        var summary = d.querySelector("summary");
        if (summary) summary.focus();
      }
    });
  });
  // Only one of them open at a time.
  menus.forEach(function (d) {
    d.addEventListener("toggle", function () {
      if (!d.open) return;
      menus.forEach(function (other) { if (other !== d) other.open = false; });
    });
  });
})();
