// Chart drill-down: each plotly point carries the call-explorer URL of the calls behind it in
// customdata (cdrweb/charts.py); clicking the point opens that URL.
(function () {
  "use strict";
  function urlOf(point) {
    var data = point && point.customdata;
    if (Array.isArray(data)) { data = data[0]; }
    return typeof data === "string" && data.charAt(0) === "/" ? data : null;
  }
  function bind(el) {
    if (!el.on || el.dataset.drilldown) { return; }
    el.dataset.drilldown = "1";
    el.on("plotly_click", function (event) {
      var url = event && event.points && event.points.length ? urlOf(event.points[0]) : null;
      if (url) { window.location.assign(url); }
    });
    el.style.cursor = "pointer";
  }
  function bindAll() { document.querySelectorAll(".js-plotly-plot").forEach(bind); }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", bindAll); } else { bindAll(); }
  window.addEventListener("load", bindAll);
})();
