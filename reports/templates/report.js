(function () {
  var selects = ["f-task", "f-model", "f-judge"].map(function (id) { return document.getElementById(id); });
  var items = Array.prototype.slice.call(document.querySelectorAll("details.pair"));
  var count = document.getElementById("f-count");
  function apply() {
    var task = selects[0].value, model = selects[1].value, judge = selects[2].value, shown = 0;
    items.forEach(function (el) {
      var ok = (!task || el.dataset.task === task) && (!judge || el.dataset.judge === judge) &&
               (!model || el.dataset.modelA === model || el.dataset.modelB === model);
      el.hidden = !ok;
      if (ok) { shown += 1; }
    });
    count.textContent = shown + " of " + items.length + " judged pairs shown";
  }
  selects.forEach(function (s) { s.addEventListener("change", apply); });
  apply();
})();
