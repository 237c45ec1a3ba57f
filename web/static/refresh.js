// Reloads a page that asks for it (data-refresh, in seconds, on <body>)
// while it is visible and the reader is not in the middle of something:
// an unfolded job output, a filter being edited.
(function () {
  "use strict";
  var seconds = parseInt(document.body.getAttribute("data-refresh") || "0", 10);
  if (!(seconds > 0)) {
    return;
  }
  window.setInterval(function () {
    if (document.visibilityState !== "visible") {
      return;
    }
    if (document.querySelector("details[open]")) {
      return;
    }
    var active = document.activeElement;
    if (active && (active.tagName === "INPUT" || active.tagName === "SELECT")) {
      return;
    }
    window.location.reload();
  }, seconds * 1000);
})();
