// "Select all" on the order list: the only script of the console (no inline script; CSP script-src 'self').
(function () {
  var all = document.getElementById("select-all");
  if (!all) return;
  var boxes = function () { return document.querySelectorAll('input[type=checkbox][name=order_ids]'); };
  all.addEventListener("change", function () {
    boxes().forEach(function (b) { b.checked = all.checked; });
  });
  document.addEventListener("change", function (e) {
    if (e.target.name !== "order_ids") return;
    var list = boxes(), on = 0;
    list.forEach(function (b) { if (b.checked) on++; });
    all.checked = on === list.length && on > 0;
    all.indeterminate = on > 0 && on < list.length;
  });
})();
