// Live statuses, without a reload: while a region marked data-pending="true" is on the page, the
// regions marked data-live are fetched again from the same URL with ?fragment=live every two
// seconds and swapped in place; once nothing is pending, polling stops.
(function () {
  "use strict";
  var INTERVAL_MS = 2000;

  function pending() {
    return document.querySelector("[data-live][data-pending='true']") !== null;
  }

  function refresh() {
    if (!pending()) {
      return;
    }
    var url = new URL(window.location.href);
    url.searchParams.set("fragment", "live");
    fetch(url, { credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        if (html === null) {
          return;
        }
        var fresh = new DOMParser().parseFromString(html, "text/html");
        fresh.querySelectorAll("[data-live]").forEach(function (region) {
          var current = document.getElementById(region.id);
          if (current) {
            current.replaceWith(document.importNode(region, true));
          }
        });
      })
      .catch(function () { /* a failed poll is tried again at the next tick */ })
      .finally(function () { window.setTimeout(refresh, INTERVAL_MS); });
  }

  window.setTimeout(refresh, INTERVAL_MS);
})();
