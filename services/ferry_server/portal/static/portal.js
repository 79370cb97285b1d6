// Ferry portal: the little script the pages need (no inline script anywhere: the
// Content-Security-Policy allows only files served by the control plane).
// Charts: every <canvas data-chart="ID"> is drawn with Chart.js from the JSON in the
// non-executed <script type="application/json" id="ID">; the table beside it has the
// same numbers for screen readers and for anyone without script.
(function () {
  "use strict";
  var COLORS = ["#1f5fa8", "#c2551f", "#6b6b6b", "#2e8540", "#7a3e9d"];

  function drawCharts(root) {
    if (typeof window.Chart === "undefined") { return; }
    var canvases = (root || document).querySelectorAll("canvas[data-chart]");
    canvases.forEach(function (canvas) {
      if (canvas.dataset.drawn) { return; }
      var source = document.getElementById(canvas.dataset.chart);
      if (!source) { return; }
      var spec = JSON.parse(source.textContent);
      canvas.dataset.drawn = "1";
      var line = spec.type === "line";
      var twoAxes = spec.series.some(function (s) { return s.axis === "y2"; });
      var scales = {};
      if (twoAxes) {
        scales = { y: { position: "left" }, y2: { position: "right", grid: { drawOnChartArea: false } } };
      }
      new window.Chart(canvas, {
        type: spec.type,
        data: {
          labels: spec.labels,
          datasets: spec.series.map(function (s, i) {
            var color = s.threshold ? "#a11d1d" : COLORS[i % COLORS.length];
            var set = { label: s.label, data: s.data, backgroundColor: color };
            if (line) {
              set.borderColor = color;
              set.borderWidth = 2;
              set.pointRadius = s.threshold ? 0 : 3;
              set.spanGaps = false;  // a step without enough data is a gap, not a line
              if (s.threshold) { set.borderDash = [6, 4]; }
            }
            if (s.axis) { set.yAxisID = s.axis; }
            return set;
          })
        },
        options: {
          responsive: true, maintainAspectRatio: false, animation: false,
          scales: scales,
          plugins: { title: { display: true, text: spec.title } }
        }
      });
    });
  }

  // A confirmation opened with the keyboard puts focus on its confirm button.
  document.addEventListener("toggle", function (event) {
    var details = event.target;
    if (details.matches && details.matches("details.confirm") && details.open) {
      var button = details.querySelector("button");
      if (button) { button.focus(); }
    }
  }, true);

  document.addEventListener("DOMContentLoaded", function () { drawCharts(document); });
  document.addEventListener("htmx:afterSettle", function (event) { drawCharts(event.target); });
})();
