// 部分退款: show the most that can be refunded for the items and numbers chosen (the server
// works it out again; this only saves the buyer a round trip). No framework, CSP-safe.
(function () {
  "use strict";
  var form = document.querySelector("form.refund-part");
  if (!form) return;
  var out = document.getElementById("refund-most");
  var shipping = parseInt(form.getAttribute("data-shipping") || "0", 10);
  var selects = form.querySelectorAll("select[data-values]");
  var box = form.querySelector("input[name=shipping]");
  function yuan(fen) {
    var cents = String(fen % 100);
    return Math.floor(fen / 100) + "." + (cents.length < 2 ? "0" + cents : cents);
  }
  function update() {
    var total = 0;
    var all = true;
    for (var i = 0; i < selects.length; i++) {
      var values = selects[i].getAttribute("data-values").split(",");
      var n = selects[i].selectedIndex;
      total += parseInt(values[n], 10) || 0;
      if (n !== values.length - 1) all = false;
    }
    if (shipping && (all || (box && box.checked))) total += shipping;
    out.textContent = yuan(total);
  }
  form.addEventListener("change", update);
  update();
})();
